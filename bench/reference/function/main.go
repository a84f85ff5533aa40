// Command function is the function of bench-sized: a custom runtime (the Runtime API loop, Go standard library)
// whose init takes BENCH_INIT_MS (default 50) and whose every invoke reads BENCH_PARAMETER and BENCH_SECRET
// through the extension on localhost, one after the other on a kept-alive connection. Its answer carries the
// CLOCK_MONOTONIC times (ns, the clock of Python's perf_counter) at which it got the event and held each value,
// so the benchmark can put them on the emulator's own time line.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

func monotonicNs() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

type read struct {
	Status int    `json:"status"`
	Cache  string `json:"cache"`
	Length int    `json:"length"` // of the value: Parameter.Value or SecretString
	AtNs   int64  `json:"at_ns"`
}

var extension = &http.Client{Timeout: 30 * time.Second}

func get(path, token, field string) read {
	port := os.Getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
	if port == "" {
		port = "2773"
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := extension.Do(req)
	if err != nil {
		return read{Status: 0, AtNs: monotonicNs()}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := read{Status: resp.StatusCode, Cache: resp.Header.Get("X-Pscache-Cache")}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		if field == "Parameter" {
			if p, ok := doc["Parameter"].(map[string]any); ok {
				s, _ := p["Value"].(string)
				r.Length = len(s)
			}
		} else if s, ok := doc["SecretString"].(string); ok {
			r.Length = len(s)
		}
	}
	r.AtNs = monotonicNs()
	return r
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime"
	initMs, err := strconv.Atoi(os.Getenv("BENCH_INIT_MS"))
	if err != nil {
		initMs = 50
	}
	time.Sleep(time.Duration(initMs) * time.Millisecond) // the function's own init (I/O-bound, no CPU)
	token := os.Getenv("AWS_SESSION_TOKEN")
	parameter := "/systemsmanager/parameters/get?name=" + url.QueryEscape(os.Getenv("BENCH_PARAMETER"))
	secret := "/secretsmanager/get?secretId=" + url.QueryEscape(os.Getenv("BENCH_SECRET"))
	runtime := &http.Client{} // the long poll has no timeout
	for {
		resp, err := runtime.Get(api + "/invocation/next")
		if err != nil {
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		received := monotonicNs()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		answer, _ := json.Marshal(map[string]any{
			"received_ns": received,
			"parameter":   get(parameter, token, "Parameter"),
			"secret":      get(secret, token, "SecretString"),
		})
		post, err := runtime.Post(api+"/invocation/"+id+"/response", "application/json", bytes.NewReader(answer))
		if err != nil {
			os.Exit(1)
		}
		io.Copy(io.Discard, post.Body)
		post.Body.Close()
	}
}
