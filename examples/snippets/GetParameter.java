// The README's Java example, run by tests/test_readme.py: `java GetParameter.java` (Java 11+, no build) prints the
// answer for the parameter /app/flag. The lines between the readme markers are the README's code block, indented
// here by eight spaces (the test checks it).
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class GetParameter {
    public static void main(String[] args) throws Exception {
        // readme:begin
        var port = System.getenv().getOrDefault("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773");
        var req = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/systemsmanager/parameters/get?name=%2Fapp%2Fflag"))
            .header("X-Aws-Parameters-Secrets-Token", System.getenv("AWS_SESSION_TOKEN")).build();
        String body = HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString()).body();
        // readme:end
        System.out.println(body);
    }
}
