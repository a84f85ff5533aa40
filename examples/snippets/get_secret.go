// The README's Go example, run by tests/test_readme.py: built with `go build get_secret.go` (standard library
// only), it prints the answer for the secret "prod/db". The lines between the readme markers are the README's code
// block, indented here by one tab (the test checks it).
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

func main() {
	// readme:begin
	port := os.Getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
	if port == "" {
		port = "2773"
	}
	req, _ := http.NewRequest("GET", "http://localhost:"+port+"/secretsmanager/get?secretId="+url.QueryEscape("prod/db"), nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", os.Getenv("AWS_SESSION_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	// readme:end
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Println(string(body))
}
