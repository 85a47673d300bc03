package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/lexencrypt"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

func TestNewHandlerFromEnvironment(t *testing.T) {
	server := localkms.Start(t)
	server.SetEnv(t)
	env := map[string]string{
		lexencrypt.EnvKeyARN:  localkms.DefaultKeys().Payment,
		lexencrypt.EnvPurpose: lexencrypt.DefaultPurpose,
	}
	core, logs := observer.New(zapcore.InfoLevel)

	handler, err := newHandler(context.Background(), func(name string) string { return env[name] }, zap.New(core))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	if ready := logs.FilterMessage("Lex fulfillment function ready").Len(); ready != 1 {
		t.Errorf("logged the ready line %d times, want once", ready)
	}

	payload, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lex-events", "card-number-only.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := handler.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp lexencrypt.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	if got := resp.SessionState.SessionAttributes[lexencrypt.AttributeStatus]; got != lexencrypt.StatusEncrypted {
		t.Errorf("%s = %q, want %q", lexencrypt.AttributeStatus, got, lexencrypt.StatusEncrypted)
	}
	if !strings.HasPrefix(resp.SessionState.SessionAttributes[lexencrypt.AttributeCardToken], "AgV4") {
		t.Error("the card token is not a format 2 ESDK message in base64")
	}
}

func TestNewHandlerRejectsBadEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "no key", env: map[string]string{}, wantErr: "missing " + lexencrypt.EnvKeyARN},
		{name: "alias instead of key", env: map[string]string{lexencrypt.EnvKeyARN: localkms.DefaultKeys().PaymentAlias}, wantErr: "want a full key ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newHandler(context.Background(), func(name string) string { return tt.env[name] }, zap.NewNop())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
