package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// DefaultMaxBodyBytes bounds a request body. The largest request carries
// three ciphertexts of a few KiB each.
const DefaultMaxBodyBytes = 64 << 10

// decodeBody reads a JSON object into dst: Content-Type must be
// application/json, the body is bounded, unknown fields and duplicate keys
// are rejected, and nothing may follow the object.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return newAPIError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send the body as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.cfg.MaxBodyBytes)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return newAPIError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body exceeds %d bytes", a.cfg.MaxBodyBytes))
		}
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body could not be read", cause: err}
	}
	if err := checkDuplicateKeys(body); err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: err.Error(), cause: err}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: describeJSONError(err), cause: err}
	}
	if dec.More() {
		return newAPIError(http.StatusBadRequest, CodeInvalidRequest, "the body has data after the JSON object")
	}
	return nil
}

// describeJSONError turns a decoding error into a sentence that names the
// field but never echoes a value, because values may be ciphertext.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be a %s", typeErr.Field, typeErr.Type)
	case errors.Is(err, io.EOF):
		return "the body is empty; send a JSON object"
	}
	msg := err.Error()
	if field, ok := bytes.CutPrefix([]byte(msg), []byte("json: unknown field ")); ok {
		return fmt.Sprintf("unknown field %s", field)
	}
	return "the body is not a valid request object"
}

// checkDuplicateKeys walks the JSON tokens and rejects an object that names
// a key twice: encoding/json would keep the last one silently, and a proxy
// that keeps the first one would see another request.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // true when the next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the decoder with more context
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
			case '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[v] {
					return fmt.Errorf("the body names field %q more than once", v)
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}
