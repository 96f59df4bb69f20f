package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// The fuzz targets below feed arbitrary upstream answers (status, content
// type, body) through the client's real response handling. This is the one
// place a raw httptest.Server is right: the simulator only ever answers the
// documented shapes, and the point here is every other shape.

// Secrets the fuzzed client holds. None of them, nor a long piece of one,
// may ever appear in an error.
const (
	fuzzAPIKey       = "f00dfacecafe0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01"
	fuzzPassword     = "Fuzz-Run-As-Pw-42!"
	fuzzClientSecret = "fuzzOAuthClientSecretValueQWERTYzxcvbnmASDFGhjkl"
	fuzzRunAs        = "svc-fuzz"
)

// maxErrLen bounds an error string: the server's message is capped at 300
// runes, so anything much longer means a body got quoted.
const maxErrLen = 1024

// secretWindow: no substring this long of any secret may appear in an error
// (a capped message must not keep a cut-off piece of a secret either).
const secretWindow = 12

// fuzzOps are the client methods the target drives, picked by op % len.
var fuzzOps = []struct {
	name string
	// endpoint is the path suffix (below the API root) whose answer is fuzzed.
	endpoint string
	oauth    bool
	run      func(ctx context.Context, c *client.Client) (ok bool, err error)
}{
	{"SignIn", "/Auth/SignAppin", false, func(ctx context.Context, c *client.Client) (bool, error) {
		u, err := c.SignIn(ctx)
		return u != nil, err
	}},
	{"OAuthToken", "/Auth/connect/token", true, func(ctx context.Context, c *client.Client) (bool, error) {
		u, err := c.SignIn(ctx)
		return u != nil, err
	}},
	{"CreateRequest", "/Requests", false, func(ctx context.Context, c *client.Client) (bool, error) {
		id, _, err := c.CreateRequest(ctx, client.RequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 5, Reason: "fuzz"})
		return id > 0, err
	}},
	{"CreateRequestReuse", "/Requests", false, func(ctx context.Context, c *client.Client) (bool, error) {
		id, _, err := c.CreateRequest(ctx, client.RequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 5, ConflictOption: client.ConflictReuse})
		return id > 0, err
	}},
	{"CreateAliasRequest", "/Aliases/1/Requests", false, func(ctx context.Context, c *client.Client) (bool, error) {
		id, _, err := c.CreateAliasRequest(ctx, 1, client.RequestInput{DurationMinutes: 5})
		return id > 0, err
	}},
	{"Credential", "/Credentials/7", false, func(ctx context.Context, c *client.Client) (bool, error) {
		_, err := c.Credential(ctx, 7, client.CredentialPassword)
		return true, err // any string is a credential
	}},
	{"AliasCredential", "/Aliases/1/Credentials/7", false, func(ctx context.Context, c *client.Client) (bool, error) {
		ac, err := c.AliasCredential(ctx, 1, 7, "")
		return ac != nil, err
	}},
	{"ManagedAccounts", "/ManagedAccounts", false, func(ctx context.Context, c *client.Client) (bool, error) {
		l, err := c.ManagedAccounts(ctx, client.ManagedAccountsQuery{SystemName: "db-prod-01"})
		return l != nil, err
	}},
	{"ManagedAccount", "/ManagedAccounts", false, func(ctx context.Context, c *client.Client) (bool, error) {
		a, err := c.ManagedAccount(ctx, "db-prod-01", "postgres")
		return a != nil, err
	}},
	{"ListRequests", "/Requests", false, func(ctx context.Context, c *client.Client) (bool, error) {
		l, err := c.ListRequests(ctx, "active", "")
		return l != nil, err
	}},
	{"Aliases", "/Aliases", false, func(ctx context.Context, c *client.Client) (bool, error) {
		l, err := c.Aliases(ctx)
		return l != nil, err
	}},
	{"Alias", "/Aliases/3", false, func(ctx context.Context, c *client.Client) (bool, error) {
		a, err := c.Alias(ctx, 3)
		return a != nil, err
	}},
	{"AliasByName", "/Aliases", false, func(ctx context.Context, c *client.Client) (bool, error) {
		a, err := c.AliasByName(ctx, "prod-db-admin")
		return a != nil, err
	}},
	{"Checkin", "/Requests/7/Checkin", false, func(ctx context.Context, c *client.Client) (bool, error) {
		return true, c.Checkin(ctx, 7, "fuzz")
	}},
	{"ISARequest", "/ISARequests", false, func(ctx context.Context, c *client.Client) (bool, error) {
		_, err := c.ISARequest(ctx, client.ISARequestInput{SystemID: 1, AccountID: 11}, "")
		return true, err
	}},
}

// fuzzAnswer is what the fuzz server says next for the fuzzed endpoint.
type fuzzAnswer struct {
	endpoint    string
	status      int
	contentType string
	body        []byte
}

// fuzzServer answers sign-in and token calls properly (unless they are the
// fuzzed endpoint) and the fuzzed endpoint with the current answer.
type fuzzServer struct {
	*httptest.Server
	mu  sync.Mutex
	ans fuzzAnswer
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	fs := &fuzzServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fs.mu.Lock()
		a := fs.ans
		fs.mu.Unlock()
		p := strings.TrimPrefix(r.URL.Path, "/BeyondTrust/api/public/v3")
		if p != a.endpoint {
			switch p {
			case "/Auth/SignAppin":
				w.Header().Set("Content-Type", "application/json")
				http.SetCookie(w, &http.Cookie{Name: "ASP.NET_SessionId", Value: "fuzz"})
				_, _ = io.WriteString(w, `{"UserId":1,"UserName":"svc-fuzz"}`)
			case "/Auth/connect/token":
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"fuzz-access-token-0123456789","expires_in":3600,"token_type":"Bearer"}`)
			case "/Auth/Signout":
				w.WriteHeader(http.StatusOK)
			default:
				w.WriteHeader(http.StatusTeapot)
			}
			return
		}
		if a.contentType != "" {
			w.Header()["Content-Type"] = []string{a.contentType}
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	tb.Cleanup(fs.Close)
	return fs
}

func (fs *fuzzServer) set(a fuzzAnswer) {
	fs.mu.Lock()
	fs.ans = a
	fs.mu.Unlock()
}

// fuzzHTTPClient is shared by every client of a fuzz run, so connections are
// reused (a new transport per input would run out of ports in a long run).
// Like the client's own, it never follows redirects.
func fuzzHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func fuzzClient(tb testing.TB, fs *fuzzServer, hc *http.Client, oauth bool) *client.Client {
	cfg := client.Config{
		BaseURL: fs.URL + "/BeyondTrust/api/public/v3", HTTPClient: hc,
		Timeout: 5 * time.Second, MaxRetries: -1,
	}
	if oauth {
		cfg.ClientID, cfg.ClientSecret = "fuzz-client", fuzzClientSecret
	} else {
		cfg.APIKey, cfg.RunAs, cfg.Password = fuzzAPIKey, fuzzRunAs, fuzzPassword
	}
	c, err := client.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// fuzzStatus maps any int onto a status a server can send (200..599).
func fuzzStatus(s int) int {
	if s >= 200 && s <= 599 {
		return s
	}
	u := uint(s)
	return 200 + int(u%400)
}

// checkClientErr asserts what every error from the client must be: short,
// marked as Password Safe's, free of any secret or long piece of one, and
// (for an *Error) with a message of one clean line.
func checkClientErr(t *testing.T, what string, oauth bool, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxErrLen {
		t.Errorf("%s: error is %d bytes long (max %d): %.200q…", what, len(msg), maxErrLen, msg)
	}
	if !strings.HasPrefix(msg, "password safe: ") {
		t.Errorf("%s: error %q does not say it is about Password Safe", what, msg)
	}
	all := msg
	if e, ok := client.AsError(err); ok {
		all += "\n" + e.Message
		for _, r := range e.Message {
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				t.Errorf("%s: Message holds control or invalid characters: %q", what, e.Message)
				break
			}
		}
		if utf8.RuneCountInString(e.Message) > 301 {
			t.Errorf("%s: Message is %d runes long", what, utf8.RuneCountInString(e.Message))
		}
	}
	// A client can only redact what it knows: the OAuth client holds the
	// client secret, the API-key client the key and password (and so the
	// PS-Auth header, whose secret parts these are).
	secrets := []string{fuzzAPIKey, fuzzPassword}
	if oauth {
		secrets = []string{fuzzClientSecret}
	}
	for _, s := range secrets {
		if leak := secretPiece(all, s, secretWindow); leak != "" {
			t.Errorf("%s: error %q holds a piece of a secret: %q", what, all, leak)
		}
	}
}

// secretPiece returns the first substring of secret at least n long (or the
// whole secret when shorter) that occurs in s, "" when none does.
func secretPiece(s, secret string, n int) string {
	if len(secret) <= n {
		if strings.Contains(s, secret) {
			return secret
		}
		return ""
	}
	for i := 0; i+n <= len(secret); i++ {
		if w := secret[i : i+n]; strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

// longMessage is padding that pushes a secret across the 300-rune message cap.
var longMessage = strings.Repeat("x", 280)

func FuzzResponse(f *testing.F) {
	psAuth := client.PSAuthHeader(fuzzAPIKey, fuzzRunAs, fuzzPassword)
	seeds := []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"UserId":1,"UserName":"svc-fuzz"}`},
		// Variants of BeyondTrust's reference (pstest doc.go).
		{403, "application/json", `"Request is not yet approved"`},
		{403, "application/json", `{"Message":"4034 - Request is not yet approved"}`},
		{409, "application/json", `4091`},
		{200, "application/json", `{"TotalCount":1,"Data":[{"AccountName":"a","LastChangeDate":"2019-05-30T07:30:48.16"}]}`},
		{200, "application/json", `[{"RequestID":1,"Status":"Pending Approval","RequestReleaseDate":"2019-05-30T07:30:48.16"}]`},
		{201, "application/json", `42`},
		{200, "application/json", `"42"`},
		{200, "application/json", `{"RequestID":42}`},
		{200, "application/json", `"s3cr3t-credential"`},
		{200, "application/json", `"esc\"aped\\cred\u00e9"`},
		{200, "application/json", `[{"RequestID":1,"SystemID":1,"AccountID":11,"Status":"active","ExpiresDate":"2030-01-01T00:00:00Z"}]`},
		{200, "application/json", `{"SystemId":1,"SystemName":"db-prod-01","AccountId":11,"AccountName":"postgres","MaximumReleaseDuration":10080}`},
		{200, "application/json", `[{"AliasId":1,"AliasName":"prod-db-admin","MappedAccounts":[{"AliasID":1,"ManagedSystemID":1,"ManagedAccountID":11,"Status":1}]}]`},
		{200, "application/json", `{"AliasID":1,"Password":"p","PrivateKey":"k","Passphrase":"x"}`},
		{200, "application/json", `{"access_token":"tok-0123456789","expires_in":"3600","token_type":"bearer"}`},
		{200, "application/json", `{"Credentials":"isa-cred"}`},
		{204, "", ``},
		// truncated JSON and wrong types
		{200, "application/json", `{"UserId":`},
		{200, "application/json", `[{"RequestID":1,"Sta`},
		{200, "application/json", `"unterminated`},
		{200, "application/json", `{"UserId":"one"}`},
		{200, "application/json", `[{"SystemId":"x","LastChangeDate":17}]`},
		{200, "application/json", `[{"ExpiresDate":"not a date"}]`},
		{200, "application/json", `-1`},
		{201, "application/json", `99999999999999999999999`},
		{200, "application/json", `[1,2,3]`},
		{200, "application/json", `null`},
		{200, "application/json", `true`},
		{200, "application/json", "\xff\xfe\x00\x01"},
		// wrong content types
		{200, "text/html", `<html><body>Login</body></html>`},
		{200, "application/xml", `<RequestID>42</RequestID>`},
		{500, "text/html", `<html><head><title>500</title></head><body>Internal error</body></html>`},
		// sub-code bodies
		{403, "application/json", `4034`},
		{403, "application/json", `"4034 - Request is not yet approved"`},
		{409, "application/json", `{"code":"4091","message":"Conflicting request exists"}`},
		{403, "text/plain", "403x 40345 4031"},
		{401, "application/json", `"User not authenticated"`},
		{404, "application/json", `"Request not found"`},
		{429, "application/json", `"slow down"`},
		{503, "", ""},
		{302, "text/html", `moved`},
		{400, "application/json", `{"error":"invalid_client","error_description":"bad secret"}`},
		{400, "application/json", `{"error":{"nested":true}}`},
		{400, "text/plain", "line1\r\nline2\x00\x1b[31mred\u2028"},
		// a server that echoes secrets back, short and across the message cap
		{400, "text/plain", "bad header: " + psAuth},
		{400, "application/json", `"bad key ` + fuzzAPIKey + `"`},
		{403, "text/plain", longMessage + fuzzAPIKey},
		{403, "text/plain", strings.Repeat("y", 285) + fuzzPassword},
		{400, "application/json", `{"error_description":"` + longMessage + fuzzClientSecret + `"}`},
		{401, "text/plain", strings.ReplaceAll(fuzzPassword, "-", "\t")},
		{200, "text/plain", strings.Repeat("A", 70000)},
		{500, "text/plain", strings.Repeat("é", 70000)},
	}
	// Every seed through two methods, and the ones that echo a secret
	// through all: baseline coverage of the whole corpus must fit in a short
	// CI fuzz run.
	for i, s := range seeds {
		if strings.Contains(s.body, fuzzAPIKey) || strings.Contains(s.body, fuzzPassword) || strings.Contains(s.body, fuzzClientSecret) {
			for op := range fuzzOps {
				f.Add(uint8(op), s.status, s.ct, []byte(s.body))
			}
			continue
		}
		f.Add(uint8(i%len(fuzzOps)), s.status, s.ct, []byte(s.body))
		f.Add(uint8((i*7+3)%len(fuzzOps)), s.status, s.ct, []byte(s.body))
	}

	fs := newFuzzServer(f)
	hc := fuzzHTTPClient()
	f.Fuzz(func(t *testing.T, op uint8, status int, contentType string, body []byte) {
		o := fuzzOps[int(op)%len(fuzzOps)]
		fs.set(fuzzAnswer{endpoint: o.endpoint, status: fuzzStatus(status), contentType: contentType, body: body})
		c := fuzzClient(t, fs, hc, o.oauth)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, err := o.run(ctx, c)
		what := fmt.Sprintf("%s(HTTP %d, %d-byte body)", o.name, fuzzStatus(status), len(body))
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: the call hung until the test's deadline: %v", what, err)
			}
			checkClientErr(t, what, o.oauth, err)
			return
		}
		if !ok {
			t.Errorf("%s: no error and no valid value", what)
		}
	})
}

// TestResponseBodyCaps: the client reads at most its caps from an upstream
// that sends far more (or never stops), and errors about it quote nothing.
func TestResponseBodyCaps(t *testing.T) {
	const maxBody = 16 << 20 // client.maxBody
	hc := fuzzHTTPClient()
	endless := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			chunk := []byte(`"` + strings.Repeat(fuzzPassword, 4096))
			for sent := 0; sent < 4*maxBody; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up: what we want
				}
			}
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"success body over the cap", endless(200), 200},
		{"error body over the cap", endless(500), 500},
		{"declared length over the cap", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(maxBody+10))
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`"short`)) // then the connection ends early
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c, err := client.New(client.Config{
				BaseURL: srv.URL + "/BeyondTrust/api/public/v3", APIKey: fuzzAPIKey, RunAs: fuzzRunAs, Password: fuzzPassword,
				HTTPClient: hc, Timeout: 20 * time.Second, MaxRetries: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = c.SignIn(ctx)
			if err == nil {
				t.Fatalf("SignIn succeeded on an oversized body")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the client kept reading: %v", err)
			}
			checkClientErr(t, tc.name, false, err)
			if tc.status == 200 && !errors.Is(err, client.ErrUnexpectedResponse) && !strings.Contains(err.Error(), "unexpected EOF") {
				t.Errorf("err = %v, want ErrUnexpectedResponse or a broken-body error", err)
			}
		})
	}
}
