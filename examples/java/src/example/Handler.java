package example;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Lambda handler that reads a parameter and a secret through pscache.
 *
 * <p>Managed runtime (java17/java21): handler {@code example.Handler::handleRequest}, a stream handler that needs no
 * aws-lambda-java-core. Custom runtime: {@link Bootstrap}. The event may name what to read:
 * {"parameter": "/app/flag", "secret": "app/api-key"}; otherwise EXAMPLE_PARAMETER and EXAMPLE_SECRET do.
 */
public final class Handler {
    private final Pscache pscache = new Pscache();

    public void handleRequest(InputStream input, OutputStream output) throws IOException, InterruptedException {
        Object event = Json.parse(new String(input.readAllBytes(), StandardCharsets.UTF_8).strip());
        output.write(Json.write(handle(event)).getBytes(StandardCharsets.UTF_8));
    }

    public Map<String, Object> handle(Object event) throws IOException, InterruptedException {
        Map<?, ?> fields = event instanceof Map<?, ?> m ? m : Map.of();
        String name = choose(fields.get("parameter"), "EXAMPLE_PARAMETER", "/pscache-example/greeting");
        String secretId = choose(fields.get("secret"), "EXAMPLE_SECRET", "pscache-example/api-key");
        Map<String, Object> parameter = pscache.getParameter(name);
        Map<String, Object> secret = pscache.getSecret(secretId);

        Map<String, Object> p = new LinkedHashMap<>();
        p.put("name", parameter.get("Name"));
        p.put("version", parameter.get("Version"));
        Object value = parameter.get("Value");
        p.put("value", "SecureString".equals(parameter.get("Type")) ? masked(value) : value);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("name", secret.get("Name"));
        s.put("value", masked(secret.get("SecretString")));
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("parameter", p);
        result.put("secret", s);
        return result;
    }

    private static String choose(Object fromEvent, String variable, String fallback) {
        if (fromEvent instanceof String s && !s.isEmpty()) return s;
        String fromEnv = System.getenv(variable);
        return fromEnv == null || fromEnv.isEmpty() ? fallback : fromEnv;
    }

    /** Never return or log a secret: its first three characters and its length are enough to check it. */
    static String masked(Object value) {
        if (value == null) return null;
        String s = value.toString();
        return s.substring(0, Math.min(3, s.length())) + "... (" + s.length() + " chars)";
    }
}
