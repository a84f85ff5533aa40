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
    /** pscache answered with an error: its HTTP status and its JSON body {"__type", "message"}. */
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

    /** SnapStart sets no AWS_SESSION_TOKEN; pscache then accepts the container token. */
    private static String token() {
        String session = System.getenv("AWS_SESSION_TOKEN");
        if (session != null && !session.isEmpty()) return session;
        return System.getenv().getOrDefault("AWS_CONTAINER_AUTHORIZATION_TOKEN", "");
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
        String type = "ExtensionError";
        String message = response.body(); // the AWS extension answers errors in plain text
        try {
            Map<String, Object> doc = (Map<String, Object>) Json.parse(response.body());
            type = String.valueOf(doc.getOrDefault("__type", type));
            message = String.valueOf(doc.getOrDefault("message", ""));
        } catch (RuntimeException notJson) {
            // keep the plain text
        }
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
