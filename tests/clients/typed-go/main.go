// A careless typed client, as some written for the AWS extension are: it decodes any answer into structs shaped
// like the AWS SDK for Go v2's outputs and never looks at the status. It prints what such a client would hand to
// its caller, as one JSON line per read: {"value": ..., "error": ...}.
//
//	typed-go <port> <token> <accept or ""> parameter|secret <name>...
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Shaped like ssm.GetParameterOutput and types.Parameter (pointer fields, as the SDK has them).
type GetParameterOutput struct {
	Parameter *struct {
		Name    *string
		Value   *string
		Version int64
	}
}

// Shaped like secretsmanager.GetSecretValueOutput.
type GetSecretValueOutput struct {
	Name         *string
	SecretString *string
	SecretBinary []byte
}

type result struct {
	Value *string `json:"value"`
	Error string  `json:"error,omitempty"`
}

func get(port, token, accept, path string, into any) error {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, into) // the careless part: whatever the status
}

func read(port, token, accept, kind, name string) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{Error: fmt.Sprintf("panic: %v", p)}
		}
	}()
	if kind == "parameter" {
		var out GetParameterOutput
		if err := get(port, token, accept, "/systemsmanager/parameters/get?name="+url.QueryEscape(name), &out); err != nil {
			return result{Error: err.Error()}
		}
		return result{Value: out.Parameter.Value} // nil Parameter: the panic of the issue
	}
	var out GetSecretValueOutput
	if err := get(port, token, accept, "/secretsmanager/get?secretId="+url.QueryEscape(name), &out); err != nil {
		return result{Error: err.Error()}
	}
	value := ""
	if out.SecretString != nil {
		value = *out.SecretString
	}
	return result{Value: &value} // a missing secret read as "" with no error: the worst case
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: typed-go <port> <token> <accept> parameter|secret <name>...")
		os.Exit(2)
	}
	port, token, accept, kind := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	enc := json.NewEncoder(os.Stdout)
	for _, name := range os.Args[5:] {
		_ = enc.Encode(read(port, token, accept, kind, name))
	}
}
