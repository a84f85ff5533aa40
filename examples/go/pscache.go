package main

// Reads SSM parameters and Secrets Manager secrets through pscache (or the AWS extension): standard library only.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// PscacheError is an error answer: the HTTP status, the code (the X-Amzn-ErrorType header) and the message.
type PscacheError struct {
	Status  int
	Type    string
	Message string
}

func (e *PscacheError) Error() string {
	return fmt.Sprintf("pscache answered %d %s: %s", e.Status, e.Type, e.Message)
}

// Parameter is the part of GetParameter's `Parameter` object the example uses.
type Parameter struct {
	Name    string
	Type    string
	Value   string
	Version int64
}

// Secret is the part of the GetSecretValue body the example uses (SecretString is null for binary secrets).
type Secret struct {
	Name         string
	SecretString *string
	SecretBinary []byte
}

var client = &http.Client{Timeout: 10 * time.Second}

func port() string {
	if p := os.Getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"); p != "" {
		return p
	}
	return "2773"
}

// token: SnapStart sets no AWS_SESSION_TOKEN; pscache then accepts the container token.
func token() string {
	if t := os.Getenv("AWS_SESSION_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
}

func pscacheGet(path string, query url.Values, into any) error {
	req, err := http.NewRequest(http.MethodGet, "http://localhost:"+port()+path+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token())
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return json.Unmarshal(body, into)
	}
	// pscache's error body is plain text, "<code>: <message>"; the AWS extension's has no code header.
	failure := &PscacheError{Status: resp.StatusCode, Type: resp.Header.Get("X-Amzn-ErrorType"), Message: string(body)}
	if failure.Type == "" {
		failure.Type = "ExtensionError"
	} else {
		failure.Message = strings.TrimPrefix(failure.Message, failure.Type+": ")
	}
	return failure
}

// GetParameter returns a parameter, decrypted if it is a SecureString.
func GetParameter(name string) (*Parameter, error) {
	var out struct{ Parameter Parameter }
	err := pscacheGet("/systemsmanager/parameters/get", url.Values{"name": {name}, "withDecryption": {"true"}}, &out)
	if err != nil {
		return nil, err
	}
	return &out.Parameter, nil
}

// GetSecret returns a secret's current value.
func GetSecret(secretID string) (*Secret, error) {
	var out Secret
	if err := pscacheGet("/secretsmanager/get", url.Values{"secretId": {secretID}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
