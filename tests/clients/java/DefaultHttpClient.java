import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/**
 * What the README's Java snippet and most JDK-only clients do: HttpClient.newHttpClient(), all defaults. For a
 * plain-HTTP URL that client offers an h2c upgrade (Upgrade: h2c, HTTP2-Settings) on each new connection.
 * Prints one line per path: the status and the HTTP version the answer came in.
 *
 *   java DefaultHttpClient.java <port> <token> <path>...
 */
public final class DefaultHttpClient {
    public static void main(String[] args) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        for (int i = 2; i < args.length; i++) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + args[0] + args[i]))
                    .header("X-Aws-Parameters-Secrets-Token", args[1]).build();
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println(response.statusCode() + " " + response.version());
        }
    }
}
