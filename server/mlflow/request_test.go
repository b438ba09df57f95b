package mlflow

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// bindProbe has a field of every flexible request type.
type bindProbe struct {
	Name    string    `json:"name"`
	N       optInt    `json:"n"`
	F       optFloat  `json:"f"`
	B       optBool   `json:"b"`
	S       optString `json:"s"`
	L       strList   `json:"l"`
	View    viewType  `json:"view"`
	Metrics []struct {
		Value optFloat `json:"value"`
	} `json:"metrics"`
}

// bindRequest decodes a request like the handlers do.
func bindRequest(method, target, body string) (bindProbe, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	c := echo.New().NewContext(req, httptest.NewRecorder())
	var p bindProbe
	err := bind(c, &p)
	return p, err
}

func TestBind(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		check                      func(p bindProbe) bool
		wantErr                    string
	}{
		{"JSON numbers", http.MethodPost, "/", `{"n": 12, "f": 0.5, "b": true, "s": "", "l": ["a", "b"], "view": "ALL"}`,
			func(p bindProbe) bool {
				return p.N == optInt{12, true} && p.F == optFloat{0.5, true} && p.B.V && p.S.Set && len(p.L) == 2 && p.View == viewAll
			}, ""},
		{"protobuf strings", http.MethodPost, "/", `{"n": "1772366400000", "f": "Infinity", "b": "True", "view": 2}`,
			func(p bindProbe) bool {
				return p.N.V == 1772366400000 && math.IsInf(p.F.V, 1) && p.B.V && p.View == viewDeleted
			}, ""},
		{"integral float", http.MethodPost, "/", `{"n": 3.0}`, func(p bindProbe) bool { return p.N.V == 3 }, ""},
		{"absent and null", http.MethodPost, "/", `{"n": null, "s": null}`, func(p bindProbe) bool { return !p.N.Set && !p.S.Set }, ""},
		{"GET query", http.MethodGet, "/?name=x&n=5&l=a&l=b&b=false", "",
			func(p bindProbe) bool { return p.Name == "x" && p.N.V == 5 && len(p.L) == 2 && p.B.Set && !p.B.V }, ""},
		{"GET one repeated value", http.MethodGet, "/?l=a", "", func(p bindProbe) bool { return len(p.L) == 1 && p.L[0] == "a" }, ""},
		{"DELETE query", http.MethodDelete, "/?name=y", "", func(p bindProbe) bool { return p.Name == "y" }, ""},
		{"DELETE body", http.MethodDelete, "/?name=y", `{"name": "z"}`, func(p bindProbe) bool { return p.Name == "z" }, ""},
		{"empty POST", http.MethodPost, "/", "", func(p bindProbe) bool { return p.Name == "" }, ""},
		{"fraction for int64", http.MethodPost, "/", `{"n": 1.5}`, nil, `invalid value 1.5: not an integer`},
		{"text for double", http.MethodPost, "/", `{"metrics": [{"value": "high"}]}`, nil, `invalid value "high": not a number`},
		{"number for string", http.MethodPost, "/", `{"name": 5}`, nil, `invalid value for parameter 'name': expected string, got JSON number (offset 10)`},
		{"bad view", http.MethodPost, "/", `{"view": "SOME"}`, nil, `invalid value "SOME": not a view type (ACTIVE_ONLY, DELETED_ONLY or ALL)`},
		{"syntax", http.MethodPost, "/", `{"name": }`, nil, `malformed JSON request body at offset 10: invalid character '}' looking for beginning of value`},
		{"array body", http.MethodPost, "/", `[1]`, nil, `invalid value for parameter '': expected mlflow.bindProbe, got JSON array (offset 1)`},
	}
	for _, tt := range tests {
		p, err := bindRequest(tt.method, tt.target, tt.body)
		if tt.wantErr != "" {
			var me *Error
			if !errors.As(err, &me) || me.Code != codeInvalidParameter || me.Message != tt.wantErr {
				t.Errorf("%s: error %v, want INVALID_PARAMETER_VALUE %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(p) {
			t.Errorf("%s: decoded %+v", tt.name, p)
		}
	}
}

// FuzzBind checks that any request body either decodes or is refused with
// INVALID_PARAMETER_VALUE, never a panic or another error.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{"n": 1}`, `{"n": "1"}`, `{"f": "NaN"}`, `{"l": "a"}`, `{"view": 3}`, `{"b": "TRUE"}`, `[]`, `{`, `null`,
		`{"metrics": [{"value": 1e400}]}`, `{"n": 1e30}`, `{"s": 1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, err := bindRequest(http.MethodPost, "/", body)
		var me *Error
		if err != nil && (!errors.As(err, &me) || me.Code != codeInvalidParameter) {
			t.Fatalf("bind(%q): %v is not INVALID_PARAMETER_VALUE", body, err)
		}
	})
}
