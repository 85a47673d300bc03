package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/connect-secure-input/processor/internal/leakscan"
	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
)

// The demo's test cards: public test numbers with documented simulator
// outcomes (docs/simulator.md). None belongs to a person.
const (
	mistypedPAN = "4242424242424241" // fails Luhn
	approvedPAN = "4242424242424242"
	declinedPAN = "4000000000009995" // insufficient_funds
	silentPAN   = "4000000000008005" // the gateway never responds
	demoCVV     = "737"
	amountMinor = 4999
	contactID   = "3b1e5f4a-7c2d-4e8f-9a6b-1c2d3e4f5a6b"
)

// apiResult is one API call as the demo prints it.
type apiResult struct {
	status int
	body   map[string]any
	took   time.Duration
}

func playPayment(ctx context.Context, p *printer, env *environment) error {
	expiry := time.Now().AddDate(2, 0, 0)
	expiryDigits := fmt.Sprintf("%02d%02d", int(expiry.Month()), expiry.Year()%100)
	env.canaries = []string{mistypedPAN, approvedPAN, declinedPAN, silentPAN, demoCVV}

	p.section("1. The caller keys a card number with a typo (DTMF, encrypted by Connect: format 1, suite 0x0378, RSA-OAEP-SHA512)")
	res, err := env.validate(ctx, "pan", env.dtmf(ctx, mistypedPAN), "")
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/validations field=pan -> %d valid=%v reason=%v", res.status, res.body["valid"], res.body["reason"]), res.took)
	p.detail("the flow re-prompts: \"That card number is not valid. Please enter it again.\"")

	p.section("2. The caller keys the card number, expiry and security code again")
	res, err = env.validate(ctx, "pan", env.dtmf(ctx, approvedPAN), "")
	if err != nil {
		return err
	}
	cardInfo, _ := res.body["card"].(map[string]any)
	p.step(fmt.Sprintf("POST /v1/validations field=pan    -> %d valid=%v %v %v****%v", res.status, res.body["valid"], cardInfo["brand"], cardInfo["bin"], cardInfo["last4"]), res.took)
	res, err = env.validate(ctx, "expiry", env.dtmf(ctx, expiryDigits), "")
	if err != nil {
		return err
	}
	exp, _ := res.body["expiry"].(map[string]any)
	p.step(fmt.Sprintf("POST /v1/validations field=expiry -> %d valid=%v expires %v/%v", res.status, res.body["valid"], exp["month"], exp["year"]), res.took)
	res, err = env.validate(ctx, "cvv", env.dtmf(ctx, demoCVV), "visa")
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/validations field=cvv    -> %d valid=%v (%d digits, matches the brand)", res.status, res.body["valid"], len(demoCVV)), res.took)

	p.section("3. Another caller speaks the card number to the Lex bot (KMS token: suite 0x0578, context purpose/intent)")
	lexToken, err := connectcrypt.EncryptLex(ctx, env.kmsClient, env.kms.Keys.Payment, connectcrypt.LexContext("CollectPayment"), []byte(approvedPAN))
	if err != nil {
		return fmt.Errorf("make the Lex token: %w", err)
	}
	res, err = env.validate(ctx, "pan", lexToken, "")
	if err != nil {
		return err
	}
	cardInfo, _ = res.body["card"].(map[string]any)
	p.step(fmt.Sprintf("POST /v1/validations field=pan (KMS) -> %d valid=%v %v %v****%v", res.status, res.body["valid"], cardInfo["brand"], cardInfo["bin"], cardInfo["last4"]), res.took)
	wrongIntent, err := connectcrypt.EncryptLex(ctx, env.kmsClient, env.kms.Keys.Payment, connectcrypt.LexContext("UpdateAddress"), []byte(approvedPAN))
	if err != nil {
		return err
	}
	res, err = env.validate(ctx, "pan", wrongIntent, "")
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/validations, a token made for intent UpdateAddress -> %d %s", res.status, errorCode(res)), res.took)

	p.section("4. The flow authorizes the payment (simulator gateway, authorization only, MOTO)")
	key := contactID + ":authorize:1"
	body := env.authorizationBody(ctx, key, approvedPAN, expiryDigits)
	res, err = env.call(ctx, http.MethodPost, "/v1/authorizations", body)
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/authorizations %s -> %d %s", money(), res.status, describeAuthorization(res)), res.took)
	firstID := res.body["id"]

	res, err = env.call(ctx, http.MethodPost, "/v1/authorizations", body)
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("Connect retries the same request              -> %d %s", res.status, describeAuthorization(res)), res.took)
	if res.body["id"] == firstID {
		p.detail("same authorization id %v: replayed from the record, no second charge", firstID)
	}

	p.section("5. A declined card")
	res, err = env.call(ctx, http.MethodPost, "/v1/authorizations", env.authorizationBody(ctx, "9f2c4e1a-6b3d-4f8e-a1c7-5d2e8b4f6a3c:authorize:1", declinedPAN, expiryDigits))
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/authorizations -> %d %s", res.status, describeAuthorization(res)), res.took)
	p.detail("the flow tells the caller the card was declined and offers another card")

	p.section("6. A card whose gateway never answers")
	silentKey := "e4b8d2f1-3a7c-4e9b-b6d5-2f1a8c3e7d9b:authorize:1"
	res, err = env.call(ctx, http.MethodPost, "/v1/authorizations", env.authorizationBody(ctx, silentKey, silentPAN, expiryDigits))
	if err != nil {
		return err
	}
	p.step(fmt.Sprintf("POST /v1/authorizations -> %d %s (answered within the %s budget)", res.status, describeAuthorization(res), demoBudget), res.took)
	start := time.Now()
	for res.body["status"] == "pending" && time.Since(start) < 20*time.Second {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if res, err = env.call(ctx, http.MethodGet, "/v1/authorizations/"+silentKey, nil); err != nil {
			return err
		}
	}
	p.step(fmt.Sprintf("GET /v1/authorizations/{key} until final -> %d %s", res.status, describeAuthorization(res)), time.Since(start))
	p.detail("at the %s card-data deadline the card data was wiped and the unknown authorization voided", demoSADTTL)
	return nil
}

func money() string { return fmt.Sprintf("USD %d.%02d", amountMinor/100, amountMinor%100) }

func describeAuthorization(res apiResult) string {
	if code := errorCode(res); code != "" {
		return code
	}
	parts := []string{fmt.Sprint(res.body["status"])}
	for _, field := range []string{"authorizationCode", "declineCode", "failureReason"} {
		if v, ok := res.body[field]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", field, v))
		}
	}
	if c, ok := res.body["card"].(map[string]any); ok {
		parts = append(parts, fmt.Sprintf("%v %v****%v", c["brand"], c["bin"], c["last4"]))
	}
	return strings.Join(parts, " ")
}

func errorCode(res apiResult) string {
	if e, ok := res.body["error"].(map[string]any); ok {
		return fmt.Sprintf("error %v: %v", e["code"], e["message"])
	}
	return ""
}

// dtmf encrypts digits as Connect's Store customer input block does. A
// failure here is a bug in the demo, so it stops the run.
func (env *environment) dtmf(ctx context.Context, digits string) string {
	text, err := connectcrypt.EncryptDTMF(ctx, []byte(digits), env.connectKey)
	if err != nil {
		panic(fmt.Sprintf("encrypt demo digits: %v", err))
	}
	return text
}

func (env *environment) validate(ctx context.Context, field, ciphertext, brand string) (apiResult, error) {
	body := map[string]any{"field": field, "ciphertext": ciphertext, "contactId": contactID}
	if brand != "" {
		body["brand"] = brand
	}
	return env.call(ctx, http.MethodPost, "/v1/validations", body)
}

func (env *environment) authorizationBody(ctx context.Context, key, pan, expiry string) map[string]any {
	return map[string]any{
		"idempotencyKey": key,
		"contactId":      strings.SplitN(key, ":", 2)[0],
		"amount":         map[string]any{"value": amountMinor, "currency": "USD"},
		"card":           map[string]any{"pan": env.dtmf(ctx, pan), "expiry": env.dtmf(ctx, expiry), "cvv": env.dtmf(ctx, demoCVV)},
		"reference":      "invoice-2026-12-0042",
	}
}

// call sends one API request over mTLS and keeps the response body for the
// leak scan.
func (env *environment) call(ctx context.Context, method, path string, body any) (apiResult, error) {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return apiResult{}, err
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequestWithContext(ctx, method, env.apiURL+path, reader)
	if err != nil {
		return apiResult{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := env.client.Do(req)
	if err != nil {
		return apiResult{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return apiResult{}, err
	}
	env.captured.Write(data)
	env.captured.WriteByte('\n')
	res := apiResult{status: resp.StatusCode, took: took}
	if err := json.Unmarshal(data, &res.body); err != nil {
		return apiResult{}, fmt.Errorf("%s %s returned %d with a body that is not JSON", method, path, resp.StatusCode)
	}
	return res, nil
}

// showMetrics prints a few lines SRE would look at.
func (env *environment) showMetrics(ctx context.Context, p *printer) error {
	p.section("7. What Prometheus scrapes from the ops port")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.opsURL+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	env.captured.Write(data)
	wanted := []string{"processor_authorizations_total{", "processor_decrypt_total{", "processor_validations_total{", "processor_vault_entries ", "processor_build_info{"}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") || strings.HasSuffix(line, " 0") {
			continue
		}
		for _, prefix := range wanted {
			if strings.HasPrefix(line, prefix) {
				p.detail("%s", line)
			}
		}
	}
	p.detail("(the Connect decrypts are the four validations plus the PAN, expiry and CVV of each of the four")
	p.detail(" authorization requests, the replay included, whose card is compared by keyed fingerprint)")
	return nil
}

// leakScan looks for every card number and the CVV of the run in the
// processor's whole log, every response body and the metrics text.
func (env *environment) leakScan(p *printer) error {
	p.section("8. Leak scan")
	logData, err := os.ReadFile(env.processorLog)
	if err != nil {
		return err
	}
	var canaries []leakscan.Canary
	for _, digits := range env.canaries {
		canaries = append(canaries, leakscan.Canary{Name: digits[:min(4, len(digits))] + "...", Digits: digits})
	}
	findings := leakscan.Scan("processor log", logData, canaries)
	findings = append(findings, leakscan.Scan("API responses and metrics", env.captured.Bytes(), canaries)...)
	lines := bytes.Count(logData, []byte("\n"))
	if len(findings) > 0 {
		for _, f := range findings {
			p.detail("LEAK: %s", f)
		}
		return fmt.Errorf("the leak scan found %d occurrences of card data", len(findings))
	}
	p.step(fmt.Sprintf("no card number or CVV in %d log lines or %d bytes of responses and metrics", lines, env.captured.Len()), 0)
	p.detail("looked for each value plain, grouped, separated, as hex and as base64")
	return nil
}
