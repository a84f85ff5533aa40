package example;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal Lambda custom runtime (Runtime API 2018-06-01), JDK only: GET invocation/next, run {@link Handler},
 * POST .../response, or .../error with errorType = pscache's error code (X-Amzn-ErrorType) for a {@link Pscache.PscacheException}.
 */
public final class Bootstrap {
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    public static void main(String[] args) throws Exception {
        String api = "http://" + System.getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime";
        Handler handler;
        try {
            handler = new Handler();
        } catch (RuntimeException e) {
            post(api + "/init/error", error(e));
            System.exit(1);
            return;
        }
        while (true) {
            HttpResponse<byte[]> next = HTTP.send(HttpRequest.newBuilder(URI.create(api + "/invocation/next")).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            String requestId = next.headers().firstValue("Lambda-Runtime-Aws-Request-Id").orElseThrow();
            String base = api + "/invocation/" + requestId;
            try {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                byte[] event = next.body().length == 0 ? "null".getBytes(StandardCharsets.UTF_8) : next.body();
                handler.handleRequest(new ByteArrayInputStream(event), out);
                send(base + "/response", out.toByteArray(), null);
            } catch (Exception e) {
                post(base + "/error", error(e));
            }
        }
    }

    private static Map<String, Object> error(Exception e) {
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("errorType", e instanceof Pscache.PscacheException p ? p.errorType : e.getClass().getName());
        body.put("errorMessage", String.valueOf(e.getMessage()));
        body.put("stackTrace", List.of(trace.toString().split("\n")));
        return body;
    }

    private static void post(String url, Map<String, Object> errorBody) throws Exception {
        send(url, Json.write(errorBody).getBytes(StandardCharsets.UTF_8), (String) errorBody.get("errorType"));
    }

    private static void send(String url, byte[] body, String errorType) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (errorType != null) request.header("Lambda-Runtime-Function-Error-Type", errorType);
        HTTP.send(request.build(), HttpResponse.BodyHandlers.discarding());
    }
}
