package main

// A Lambda handler that reads a parameter and a secret through pscache. The event may name what to read:
// {"parameter": "/app/flag", "secret": "app/api-key"}; otherwise EXAMPLE_PARAMETER and EXAMPLE_SECRET do.

import (
	"encoding/json"
	"fmt"
	"os"
)

type event struct {
	Parameter string `json:"parameter"`
	Secret    string `json:"secret"`
}

type item struct {
	Name    string  `json:"name"`
	Version int64   `json:"version,omitempty"`
	Value   *string `json:"value"`
}

type result struct {
	Parameter item `json:"parameter"`
	Secret    item `json:"secret"`
}

func choose(fromEvent, variable, fallback string) string {
	if fromEvent != "" {
		return fromEvent
	}
	if v := os.Getenv(variable); v != "" {
		return v
	}
	return fallback
}

// masked: never return or log a secret; its first three characters and its length are enough to check it.
func masked(value *string) *string {
	if value == nil {
		return nil
	}
	r := []rune(*value)
	s := fmt.Sprintf("%s... (%d chars)", string(r[:min(3, len(r))]), len(r))
	return &s
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func handle(payload []byte) (*result, error) {
	var in event
	_ = json.Unmarshal(payload, &in) // a null or non-object event leaves the defaults
	parameter, err := GetParameter(choose(in.Parameter, "EXAMPLE_PARAMETER", "/pscache-example/greeting"))
	if err != nil {
		return nil, err
	}
	secret, err := GetSecret(choose(in.Secret, "EXAMPLE_SECRET", "pscache-example/api-key"))
	if err != nil {
		return nil, err
	}
	value := &parameter.Value
	if parameter.Type == "SecureString" {
		value = masked(value)
	}
	return &result{
		Parameter: item{Name: parameter.Name, Version: parameter.Version, Value: value},
		Secret:    item{Name: secret.Name, Value: masked(secret.SecretString)},
	}, nil
}
