// Package apicontract checks HTTP requests and responses of the processor API
// against the contract in api/openapi.yaml, for tests.
//
// ValidateRequest and ValidateResponse check one exchange and report a
// violation with t.Errorf. NewTransport and WrapClient wrap an http.Client so
// that every exchange a handler test makes is checked without extra code.
//
// The contract is loaded once per test binary with kin-openapi. Security
// requirements are not checked, because mutual TLS is enforced by the TLS
// listener below the HTTP layer and OpenAPI 3.0 cannot express it anyway.
package apicontract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// SpecPath is the contract's path relative to the repository root.
const SpecPath = "api/openapi.yaml"

// Schemas that responses to undeclared paths and methods must match. OpenAPI
// 3.0 attaches responses only to declared operations, so the contract keeps
// these as components and this package applies them itself.
const (
	notFoundSchema         = "NotFoundError"
	methodNotAllowedSchema = "MethodNotAllowedError"
	requestIDSchema        = "RequestId"
)

// contract is the loaded specification with the router built over it.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce   sync.Once
	loaded     *contract
	errLoading error
)

// load parses and validates the contract the first time it is called and
// returns the same result on every later call.
func load() (*contract, error) {
	loadOnce.Do(func() {
		loaded, errLoading = loadContract()
	})
	return loaded, errLoading
}

func loadContract() (*contract, error) {
	root, err := findRepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, SpecPath)

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load API contract %s: %w", path, err)
	}

	// The servers entry is a placeholder host, while tests reach the
	// service on 127.0.0.1 at a random port. Without servers the router
	// matches on the path alone.
	doc.Servers = nil

	// NewRouter validates the document before it builds the routes.
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build router for API contract %s: %w", path, err)
	}

	for _, name := range []string{notFoundSchema, methodNotAllowedSchema, requestIDSchema} {
		if doc.Components.Schemas[name] == nil {
			return nil, fmt.Errorf("API contract %s has no schema %q, which responses to undeclared routes are checked against", path, name)
		}
	}
	return &contract{doc: doc, router: router}, nil
}

// findRepoRoot walks up from the working directory (a package directory
// under go test) to the nearest directory that has both go.mod and the
// contract, so a nested module's go.mod is skipped.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, SpecPath)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no directory above the working directory has go.mod and %s", SpecPath)
		}
		dir = parent
	}
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// ValidateRequest reports with t.Errorf when req with body does not match the
// contract: an undeclared path or method, a wrong header, path parameter or
// content type, or a body that breaks its schema. req.Body is not read.
func ValidateRequest(t testing.TB, req *http.Request, body []byte) {
	t.Helper()
	if err := CheckRequest(req, body); err != nil {
		t.Errorf("request %s %s violates %s: %v", req.Method, req.URL.Path, SpecPath, err)
	}
}

// ValidateResponse reports with t.Errorf when resp, with body, is not a
// response that the contract allows to req. resp.Body is not read.
func ValidateResponse(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if err := CheckResponse(req, resp, body); err != nil {
		t.Errorf("response %d to %s %s violates %s: %v", resp.StatusCode, req.Method, req.URL.Path, SpecPath, err)
	}
}

// CheckRequest returns why req with body does not match the contract, or nil
// when it does. Use it where a test sends an invalid request on purpose and
// wants to assert that the contract rejects it too.
func CheckRequest(req *http.Request, body []byte) error {
	c, err := load()
	if err != nil {
		return err
	}
	route, pathParams, err := c.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no operation in the contract: %w", err)
	}
	return openapi3filter.ValidateRequest(req.Context(), requestInput(req, body, route, pathParams))
}

// CheckResponse returns why resp with body is not a response that the
// contract allows to req, or nil when it is. The status must be one the
// operation declares. A request to an undeclared path must get a 404
// not_found envelope, and one with an undeclared method on a declared path a
// 405 method_not_allowed envelope, each with an X-Request-Id header.
func CheckResponse(req *http.Request, resp *http.Response, body []byte) error {
	c, err := load()
	if err != nil {
		return err
	}
	route, pathParams, err := c.router.FindRoute(req)
	if err != nil {
		return c.checkUndeclaredRouteResponse(err, resp, body)
	}

	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: requestInput(req, nil, route, pathParams),
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                validationOptions(),
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(req.Context(), input)
}

// requestInput builds the validation input for req with body. It works on a
// clone so that the caller's request and its body stay untouched.
func requestInput(req *http.Request, body []byte, route *routers.Route, pathParams map[string]string) *openapi3filter.RequestValidationInput {
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	clone.ContentLength = int64(len(body))
	return &openapi3filter.RequestValidationInput{
		Request:    clone,
		PathParams: pathParams,
		Route:      route,
		Options:    validationOptions(),
	}
}

func validationOptions() *openapi3filter.Options {
	options := &openapi3filter.Options{
		// An undeclared status fails instead of passing unchecked.
		IncludeResponseStatus: true,
		// Report every violation in a body, not only the first one.
		MultiError: true,
		// Mutual TLS is checked by the TLS listener, not in HTTP.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Validation must not write schema defaults into the request body.
		SkipSettingDefaults: true,
	}
	options.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return options
}

// maxValueInMessage bounds the bytes of an offending value quoted in a
// failure message, so that a large body or a long ciphertext stays readable.
const maxValueInMessage = 80

// schemaErrorMessage formats a schema violation on one line: where it is,
// what is wrong and the value, instead of kin-openapi's default, which
// appends the whole schema and value.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	pointer := "/" + strings.Join(err.JSONPointer(), "/")
	value, marshalErr := json.Marshal(err.Value)
	if marshalErr != nil {
		return fmt.Sprintf("at %s: %s", pointer, err.Reason)
	}
	quoted := string(value)
	if len(quoted) > maxValueInMessage {
		// Cut at a rune boundary so the message stays valid UTF-8.
		cut := maxValueInMessage
		for cut > 0 && !utf8.RuneStart(quoted[cut]) {
			cut--
		}
		quoted = quoted[:cut] + "..."
	}
	return fmt.Sprintf("at %s: %s (value %s)", pointer, err.Reason, quoted)
}

// checkUndeclaredRouteResponse checks the response to a request whose path
// or method the contract does not declare.
func (c *contract) checkUndeclaredRouteResponse(routeErr error, resp *http.Response, body []byte) error {
	var wantStatus int
	var schemaName string
	var routeError *routers.RouteError
	switch {
	case errors.As(routeErr, &routeError) && routeError.Reason == routers.ErrMethodNotAllowed.Error():
		wantStatus, schemaName = http.StatusMethodNotAllowed, methodNotAllowedSchema
	case errors.As(routeErr, &routeError) && routeError.Reason == routers.ErrPathNotFound.Error():
		wantStatus, schemaName = http.StatusNotFound, notFoundSchema
	default:
		return fmt.Errorf("find the operation in the contract: %w", routeErr)
	}

	if resp.StatusCode != wantStatus {
		return fmt.Errorf("the contract does not declare this route (%v), so the status must be %d, not %d", routeErr, wantStatus, resp.StatusCode)
	}
	if err := c.checkRequestIDHeader(resp.Header); err != nil {
		return err
	}
	if err := checkJSONContentType(resp.Header); err != nil {
		return err
	}

	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("decode %d response body as JSON: %w", resp.StatusCode, err)
	}
	schema := c.doc.Components.Schemas[schemaName].Value
	err := schema.VisitJSON(value,
		openapi3.MultiErrors(),
		openapi3.VisitAsResponse(),
		openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage))
	if err != nil {
		return fmt.Errorf("response body doesn't match schema %s: %w", schemaName, err)
	}
	return nil
}

func (c *contract) checkRequestIDHeader(header http.Header) error {
	values := header.Values("X-Request-Id")
	if len(values) != 1 {
		return fmt.Errorf("response must have exactly one X-Request-Id header, got %d", len(values))
	}
	schema := c.doc.Components.Schemas[requestIDSchema].Value
	if err := schema.VisitJSON(values[0], openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage)); err != nil {
		return fmt.Errorf("response header X-Request-Id doesn't match schema %s: %w", requestIDSchema, err)
	}
	return nil
}

func checkJSONContentType(header http.Header) error {
	mediaType, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("response Content-Type %q is invalid: %w", header.Get("Content-Type"), err)
	}
	if mediaType != "application/json" {
		return fmt.Errorf("response Content-Type must be application/json, got %q", mediaType)
	}
	return nil
}
