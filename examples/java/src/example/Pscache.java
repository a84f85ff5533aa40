package example;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

/** Reads SSM parameters and Secrets Manager secrets through pscache (or the AWS extension): JDK 17+ only. */
public final class Pscache {
    /** pscache answered with an error: its HTTP status, its code (the X-Amzn-ErrorType header) and its message. */
    public static final class PscacheException extends RuntimeException {
        public final int status;
        public final String errorType;

        PscacheException(int status, String errorType, String message) {
            super("pscache answered " + status + " " + errorType + ": " + message);
            this.status = status;
            this.errorType = errorType;
        }
    }

    // HTTP/1.1: the default would offer an h2c upgrade on every plain-HTTP request.
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();
    private final String base = "http://localhost:"
            + System.getenv().getOrDefault("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773");

    /**
     * The token AWS's documentation says to send: the session token of the credentials from the SDK's default chain,
     * resolved at each read so that it stays fresh after a SnapStart restore. Without the SDK, the chain's first two
     * sources: AWS_SESSION_TOKEN, else (SnapStart sets none) the container credentials endpoint, asked as the SDK's
     * ContainerCredentialsProvider asks it (one local request; the SDK would cache the answer until shortly before
     * its Expiration).
     */
    private String token() throws IOException, InterruptedException {
        String session = System.getenv("AWS_SESSION_TOKEN");
        if (session != null && !session.isEmpty()) return session;
        String uri = System.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        String relative = System.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");  // ECS
        if ((uri == null || uri.isEmpty()) && relative != null) uri = "http://169.254.170.2" + relative;
        if (uri == null || uri.isEmpty()) return "";
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(2));
        String authorization = System.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (authorization != null && !authorization.isEmpty()) request.header("Authorization", authorization);
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("the container credentials endpoint answered " + response.statusCode());
        }
        Object token = ((Map<?, ?>) Json.parse(response.body())).get("Token");
        return token == null ? "" : token.toString();
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> get(String pathAndQuery) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + pathAndQuery))
                .header("X-Aws-Parameters-Secrets-Token", token()).timeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 200) return (Map<String, Object>) Json.parse(response.body());
        // pscache's error body is plain text, "<code>: <message>"; the AWS extension's has no code header.
        String message = response.body();
        String type = response.headers().firstValue("X-Amzn-ErrorType").orElse(null);
        if (type == null) throw new PscacheException(response.statusCode(), "ExtensionError", message);
        if (message.startsWith(type + ": ")) message = message.substring(type.length() + 2);
        throw new PscacheException(response.statusCode(), type, message);
    }

    /** The GetParameter `Parameter` object: Name, Type, Value, Version, ... */
    @SuppressWarnings("unchecked")
    public Map<String, Object> getParameter(String name) throws IOException, InterruptedException {
        return (Map<String, Object>) get("/systemsmanager/parameters/get?name=" + encode(name)
                + "&withDecryption=true").get("Parameter");
    }

    /** The GetSecretValue body: Name, SecretString or SecretBinary (base64), VersionId, ... */
    public Map<String, Object> getSecret(String secretId) throws IOException, InterruptedException {
        return get("/secretsmanager/get?secretId=" + encode(secretId));
    }
}
