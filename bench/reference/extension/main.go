// Command extension is the compiled floor of bench-sized: the least a Lambda extension can do for pscache's job,
// in Go's standard library only. It binds 127.0.0.1 before it registers (as pscache does), serves the AWS
// extension's two GET endpoints from a map with a TTL, fetches a miss with one SigV4-signed JSON call to the
// endpoint of AWS_ENDPOINT_URL (or the regional one), and follows INVOKE/SHUTDOWN. No retries, batching,
// single flight or limits: it only sets the floor that compiled code reaches on the same cold path.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

var extAPI = "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2020-01-01/extension"

type entry struct {
	status  int
	body    []byte
	expires time.Time
}

type cache struct {
	mu      sync.Mutex
	entries map[string]entry
}

func (c *cache) get(key string) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok && time.Now().Before(e.expires)
}

func (c *cache) put(key string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[key] = e
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func ttl(name string) time.Duration {
	seconds, err := strconv.Atoi(env(name, "300"))
	if err != nil {
		seconds = 300
	}
	return time.Duration(seconds) * time.Second
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// call makes one AWS JSON 1.1 call, signed with Signature Version 4.
func call(service, target string, payload map[string]any) (int, []byte, error) {
	region := env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
	endpoint := env("AWS_ENDPOINT_URL", "https://"+service+"."+region+".amazonaws.com")
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(endpoint, "/")+"/", strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, err
	}
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	token := os.Getenv("AWS_SESSION_TOKEN")
	headers := map[string]string{
		"content-type": "application/x-amz-json-1.1",
		"host":         req.URL.Host,
		"x-amz-date":   amzDate,
		"x-amz-target": target,
	}
	if token != "" {
		headers["x-amz-security-token"] = token
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sortStrings(names)
	var canonicalHeaders strings.Builder
	for _, name := range names {
		canonicalHeaders.WriteString(name + ":" + headers[name] + "\n")
	}
	signed := strings.Join(names, ";")
	canonical := strings.Join([]string{"POST", "/", "", canonicalHeaders.String(), signed, sha256Hex(body)}, "\n")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	key := hmacSHA256([]byte("AWS4"+os.Getenv("AWS_SECRET_ACCESS_KEY")), day)
	for _, part := range []string{region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	signature := hex.EncodeToString(hmacSHA256(key, toSign))
	for name, value := range headers {
		if name != "host" {
			req.Header.Set(name, value)
		}
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+os.Getenv("AWS_ACCESS_KEY_ID")+"/"+scope+
		", SignedHeaders="+signed+", Signature="+signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func sortStrings(s []string) { // insertion sort: five names, and no sort package needed
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func handler(c *cache, token string) http.Handler {
	serve := func(w http.ResponseWriter, key, service, target string, payload map[string]any, life time.Duration) {
		e, fresh := c.get(key)
		if !fresh {
			status, body, err := call(service, target, payload)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			e = entry{status, body, time.Now().Add(life)}
			if status == http.StatusOK {
				c.put(key, e)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.status)
		w.Write(e.body)
	}
	ssmTTL, secretsTTL := ttl("SSM_PARAMETER_STORE_TTL"), ttl("SECRETS_MANAGER_TTL")
	mux := http.NewServeMux()
	mux.HandleFunc("/systemsmanager/parameters/get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		decrypt := strings.EqualFold(q.Get("withDecryption"), "true")
		serve(w, "ssm\x00"+q.Get("name")+"\x00"+strconv.FormatBool(decrypt), "ssm", "AmazonSSM.GetParameter",
			map[string]any{"Name": q.Get("name"), "WithDecryption": decrypt}, ssmTTL)
	})
	mux.HandleFunc("/secretsmanager/get", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("secretId")
		serve(w, "sm\x00"+id, "secretsmanager", "secretsmanager.GetSecretValue", map[string]any{"SecretId": id},
			secretsTTL)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || r.Header.Get("X-Aws-Parameters-Secrets-Token") != token {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func extensionCall(method, path, id string, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, extAPI+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if id == "" {
		req.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	} else {
		req.Header.Set("Lambda-Extension-Identifier", id)
	}
	return http.DefaultClient.Do(req) // no timeout: next blocks across freezes
}

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:"+env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	resp, err := extensionCall(http.MethodPost, "/register", "", `{"events":["INVOKE","SHUTDOWN"]}`)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "register failed:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	token := os.Getenv("AWS_SESSION_TOKEN")
	go http.Serve(listener, handler(&cache{entries: map[string]entry{}}, token))
	for {
		resp, err := extensionCall(http.MethodGet, "/event/next", id, "")
		if err != nil {
			fmt.Fprintln(os.Stderr, "next failed:", err)
			os.Exit(1)
		}
		var event struct {
			EventType string `json:"eventType"`
		}
		json.NewDecoder(resp.Body).Decode(&event)
		resp.Body.Close()
		if event.EventType == "SHUTDOWN" {
			os.Exit(0)
		}
	}
}
