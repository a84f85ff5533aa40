// Command bootstrap is a Lambda function on a custom runtime (provided.al2023): the Runtime API loop
// (GET invocation/next -> handle -> POST .../response or .../error) around handle, standard library only.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

var api = "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime"

// runtime: the Runtime API's long poll has no timeout.
var runtime = &http.Client{}

type lambdaError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

func post(url string, body any, errorType string) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if errorType != "" {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	}
	resp, err := runtime.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// report: errorType is pscache's error code (X-Amzn-ErrorType) for a PscacheError, else the Go type of the error.
func report(url string, err error) error {
	errorType := fmt.Sprintf("%T", err)
	var failure *PscacheError
	if errors.As(err, &failure) {
		errorType = failure.Type
	}
	return post(url, lambdaError{ErrorType: errorType, ErrorMessage: err.Error()}, errorType)
}

func invokeOnce() error {
	resp, err := runtime.Get(api + "/invocation/next")
	if err != nil {
		return err
	}
	payload, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	base := api + "/invocation/" + resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	out, err := handle(payload)
	if err != nil {
		return report(base+"/error", err)
	}
	return post(base+"/response", out, "")
}

func main() {
	for {
		if err := invokeOnce(); err != nil {
			// The Runtime API itself failed: exit, and Lambda starts a new environment.
			fmt.Fprintln(os.Stderr, "runtime API:", err)
			os.Exit(1)
		}
	}
}
