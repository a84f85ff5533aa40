// Command sdk-go is a Lambda function on a custom runtime that reads through pscache with the AWS SDK for Go v2 as
// Debian packages it (1.17.1, built in GOPATH mode). That release predates AWS_ENDPOINT_URL_SSM and
// AWS_ENDPOINT_URL_SECRETS_MANAGER, so the function sets the endpoint in code, from those variables; the signer,
// serializers, deserializers, retryer and typed errors are the SDK's own.
//
// The event is that of examples/python/sdk_function.py: {"parameter", "secret"} (else EXAMPLE_PARAMETER /
// EXAMPLE_SECRET) reads both; {"write": {"name", "value"}} overwrites a String parameter; {"foreign": true} signs
// with a key pscache does not hold; {"single": true} reads the parameter only. An error is reported with the
// errorType of its typed SDK error (*types.ParameterNotFound, *types.ResourceNotFoundException) or its AWS code.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

type event struct {
	Parameter string
	Secret    string
	Write     *struct{ Name, Value string }
	Foreign   bool
	Single    bool
}

type item struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

type clients struct {
	ssm, foreign *ssm.Client
	secrets      *secretsmanager.Client
}

func newClients(ctx context.Context) (*clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	ssmAt := func(o *ssm.Options) {
		if url := os.Getenv("AWS_ENDPOINT_URL_SSM"); url != "" {
			o.EndpointResolver = ssm.EndpointResolverFromURL(url)
		}
	}
	foreign := ssm.NewFromConfig(cfg, ssmAt, func(o *ssm.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIAFOREIGNEXAMPLE", "not-the-role's-secret", "x")
	})
	secrets := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if url := os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"); url != "" {
			o.EndpointResolver = secretsmanager.EndpointResolverFromURL(url)
		}
	})
	return &clients{ssm: ssm.NewFromConfig(cfg, ssmAt), foreign: foreign, secrets: secrets}, nil
}

func masked(value *string) *string {
	if value == nil {
		return nil
	}
	shown := fmt.Sprintf("%.3s... (%d chars)", *value, utf8.RuneCountInString(*value))
	return &shown
}

func orEnv(value, variable string) string {
	if value != "" {
		return value
	}
	return os.Getenv(variable)
}

func (c *clients) handle(ctx context.Context, payload []byte) (any, error) {
	var e event
	if len(bytes.TrimSpace(payload)) > 0 && !bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, err
		}
	}
	if e.Write != nil {
		out, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: &e.Write.Name, Value: &e.Write.Value,
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
		if err != nil {
			return nil, err
		}
		return map[string]int64{"version": out.Version}, nil
	}
	name, secretID := orEnv(e.Parameter, "EXAMPLE_PARAMETER"), orEnv(e.Secret, "EXAMPLE_SECRET")
	client := c.ssm
	if e.Foreign {
		client = c.foreign
	}
	parameter, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: &name, WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	if e.Single {
		return map[string]*string{"value": parameter.Parameter.Value}, nil
	}
	secret, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, err
	}
	return map[string]item{"parameter": {name, parameter.Parameter.Value},
		"secret": {secretID, masked(secret.SecretString)}}, nil
}

// errorType: the Go type of the SDK's typed error where it has one for a missing name (so the test sees the
// deserializer made it), else the AWS error code, else the Go type.
func errorType(err error) string {
	var parameterNotFound *ssmtypes.ParameterNotFound
	var secretNotFound *smtypes.ResourceNotFoundException
	var api smithy.APIError
	switch {
	case errors.As(err, &parameterNotFound):
		return fmt.Sprintf("%T", parameterNotFound)
	case errors.As(err, &secretNotFound):
		return fmt.Sprintf("%T", secretNotFound)
	case errors.As(err, &api):
		return api.ErrorCode()
	}
	return fmt.Sprintf("%T", err)
}

// The Runtime API loop: GET invocation/next, handle, POST .../response or .../error.
func main() {
	ctx := context.Background()
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime"
	c, err := newClients(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(1)
	}
	for {
		next, err := http.Get(api + "/invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime API:", err)
			os.Exit(1)
		}
		payload, _ := io.ReadAll(next.Body)
		next.Body.Close()
		base := api + "/invocation/" + next.Header.Get("Lambda-Runtime-Aws-Request-Id")
		out, err := c.handle(ctx, payload)
		url, headers := base+"/response", map[string]string{}
		if err != nil {
			kind := errorType(err)
			out = map[string]string{"errorType": kind, "errorMessage": err.Error()}
			url, headers["Lambda-Runtime-Function-Error-Type"] = base+"/error", kind
		}
		body, _ := json.Marshal(out)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}
