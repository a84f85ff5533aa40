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

// token is what AWS's documentation says to send: the session token of the credentials from the SDK's default
// chain, resolved at each read so that it stays fresh after a SnapStart restore. Without the SDK, the chain's
// first two sources: AWS_SESSION_TOKEN, else (SnapStart sets none) the container credentials endpoint, asked as
// the SDK's endpoint credentials provider asks it (one local request; the SDK would cache the answer until
// shortly before its Expiration).
func token() (string, error) {
	if t := os.Getenv("AWS_SESSION_TOKEN"); t != "" {
		return t, nil
	}
	uri := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	if relative := os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); uri == "" && relative != "" {
		uri = "http://169.254.170.2" + relative // ECS
	}
	if uri == "" {
		return "", nil
	}
	req, err := http.NewRequest(http.MethodGet, uri, nil)
	if err != nil {
		return "", err
	}
	if authorization := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"); authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the container credentials endpoint answered %d", resp.StatusCode)
	}
	var credentials struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&credentials)
	return credentials.Token, err
}

func pscacheGet(path string, query url.Values, into any) error {
	tok, err := token()
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, "http://localhost:"+port()+path+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", tok)
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
