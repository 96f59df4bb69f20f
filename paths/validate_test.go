package paths

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
)

// noControl fails when an error message repeats a control character.
func noControl(t *testing.T, err error) {
	t.Helper()
	for _, r := range err.Error() {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			t.Errorf("message repeats a control character: %q", err)
			return
		}
	}
}

func TestValidateReason(t *testing.T) {
	ok := []string{"", "INC-1234 hotfix", "line\nbreak\tand tab", strings.Repeat("é", MaxReasonLen), "日本語の理由"}
	bad := []string{strings.Repeat("x", MaxReasonLen+1), "bell\a", "nul\x00", "cr\r", "\x7f", "\u0085", "\u009b", "\xff", "esc\x1b[2J"}
	for _, s := range ok {
		if err := ValidateReason("reason", s, MaxReasonLen); err != nil {
			t.Errorf("ValidateReason(%.20q): %v", s, err)
		}
	}
	for _, s := range bad {
		err := ValidateReason("reason", s, MaxReasonLen)
		if err == nil {
			t.Errorf("ValidateReason(%.20q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), "reason") {
			t.Errorf("message does not name the field: %q", err)
		}
		noControl(t, err)
	}
	// The request limit leaves room for the engine's tag.
	if MaxRequestReasonLen != 960 {
		t.Fatalf("MaxRequestReasonLen = %d", MaxRequestReasonLen)
	}
	err := ValidateReason("reason", strings.Repeat("é", MaxRequestReasonLen+1), MaxRequestReasonLen)
	if err == nil || !strings.Contains(err.Error(), "960") {
		t.Fatalf("961 characters against the request limit: %v", err)
	}
}

func TestValidateTicketNumber(t *testing.T) {
	for _, s := range []string{"", "CHG-1234", strings.Repeat("é", MaxTicketNumberLen)} {
		if err := ValidateTicketNumber("ticket_number", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{strings.Repeat("1", MaxTicketNumberLen+1), "A\nB", "A\tB", "\x00", "\u0085", "\xff"} {
		err := ValidateTicketNumber("ticket_number", s)
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), "ticket_number") {
			t.Errorf("message does not name the field: %q", err)
		}
		noControl(t, err)
	}
}

func TestValidateUserNameCountsCharacters(t *testing.T) {
	if err := backend.ValidateUserName("run_as", strings.Repeat("ü", MaxUserNameLen)); err != nil {
		t.Fatalf("256 two-byte characters: %v", err)
	}
	if err := backend.ValidateUserName("run_as", strings.Repeat("ü", MaxUserNameLen+1)); err == nil {
		t.Fatalf("257 characters accepted")
	}
	for _, s := range []string{"", " a", "a ", "a;b", "a[b", "a]b", "a\x00", "a\u0085", "a\xff"} {
		err := backend.ValidateUserName("run_as", s)
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		noControl(t, err)
	}
}

func TestValidateNameFields(t *testing.T) {
	for _, s := range []string{"db-prod-01", "EXAMPLE\\svc", "with space", strings.Repeat("n", MaxNameLen)} {
		if err := ValidateName("system_name", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", " ", ".", "..", "a\nb", "\t", "\u0085", "\xff", strings.Repeat("n", MaxNameLen+1)} {
		err := ValidateName("system_name", s)
		if err == nil {
			t.Errorf("%.20q accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), "system_name") {
			t.Errorf("message does not name the field: %q", err)
		}
		noControl(t, err)
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []int{1, 42, MaxID} {
		if err := ValidateID("system_id", id); err != nil {
			t.Errorf("%d: %v", id, err)
		}
	}
	for _, id := range []int{0, -1, MaxID + 1} {
		if err := ValidateID("system_id", id); err == nil || !strings.Contains(err.Error(), "system_id") {
			t.Errorf("%d: %v", id, err)
		}
	}
	if err := ValidateOptionalID("ticket_system_id", 0); err != nil {
		t.Errorf("0 (unset): %v", err)
	}
	if err := ValidateOptionalID("ticket_system_id", MaxID+1); err == nil {
		t.Errorf("above 32 bits accepted")
	}
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{"1", 1}, {"007", 7}, {"2147483647", 2147483647},
		{"0", 0}, {"-1", 0}, {"", 0}, {"abc", 0}, {"2147483648", 0}, {"99999999999999999999", 0}, {" 1", 0}, {"+1", 0},
	} {
		id, err := ParseID("request ID", tc.raw)
		if id != tc.want || (tc.want == 0) != (err != nil) {
			t.Errorf("ParseID(%q) = %d, %v; want %d", tc.raw, id, err, tc.want)
		}
	}
}

func TestCutReason(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 10, ""},
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven cha"},
		{"ééééé", 3, "ééé"},
		{"a日本語", 2, "a日"},
		{"abc", 0, ""},
		{"abc", -1, ""},
	} {
		got := backend.CutReason(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("CutReason(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("CutReason(%q, %d) split a character", tc.in, tc.max)
		}
	}
	long := "vault lease revoked: " + strings.Repeat("€", 2000)
	got := backend.CutReason(long, MaxReasonLen)
	if n := utf8.RuneCountInString(got); n != MaxReasonLen || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Fatalf("cut to %d characters (valid %v)", n, utf8.ValidString(got))
	}
	if ValidateReason("reason", got, MaxReasonLen) != nil {
		t.Fatalf("a cut reason does not validate")
	}
}

// Every path validates the same field the same way: the descriptions of
// reason and ticket_number state the limit that applies.
func TestFieldDescriptionsStateLimits(t *testing.T) {
	find := func(ps []*framework.Path, pattern string) *framework.Path {
		for _, p := range ps {
			if p.Pattern == pattern {
				return p
			}
		}
		t.Fatalf("no path %q", pattern)
		return nil
	}
	creds := credsPaths(nil, nil)[0]
	role := find(rolePaths(nil), "roles/"+framework.GenericNameRegex("name"))
	requests := find(requestPaths(nil, nil), "requests/?$")
	for name, p := range map[string]*framework.Path{"creds": creds, "roles": role, "requests": requests} {
		if d := p.Fields["reason"].Description; !strings.Contains(d, "960") {
			t.Errorf("%s reason description %q does not say 960", name, d)
		}
		if d := p.Fields["ticket_number"].Description; !strings.Contains(d, "20") {
			t.Errorf("%s ticket_number description %q does not say 20", name, d)
		}
	}
}

func TestMatchUserPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anyone", true},
		{"*", "", true},
		{"alice", "ALICE", true},
		{"alice", "alice2", false},
		{`corp\*`, `CORP\erin`, true},
		{`corp\*`, `corp\`, true},
		{`corp\*`, `corpx\erin`, false},
		{`corp\*`, "erin", false},
		{"app-*", "App-Billing", true},
		{"app-*", "xapp-billing", false},
		{"*-svc", "db-SVC", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"car?l", "CAROL", true},
		{"car?l", "carl", false},
		{"?", "é", true},
		{"ÉRIN", "érin", true},
		{"svc-vault", "ſvc-vault", true}, // U+017F folds to s
		{"[ab]", "a", false},             // no classes: '[' is literal
		{"", "", true},
		{"", "x", false},
	} {
		if got := backend.MatchUserPattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("MatchUserPattern(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	if !backend.MatchAnyUserPattern([]string{"x", "b*"}, "BOB") || backend.MatchAnyUserPattern(nil, "bob") {
		t.Fatalf("MatchAnyUserPattern")
	}
}

func TestSameUser(t *testing.T) {
	for _, other := range []string{"svc-vault", "SVC-Vault", `CORP\svc-vault`, `corp\SVC-VAULT`, "svc-vault@corp.example", `X\svc-vault@y`} {
		if !backend.SameUser(other, "svc-vault") || !backend.SameUser("svc-vault", other) {
			t.Errorf("%q is not the same as svc-vault", other)
		}
	}
	for _, other := range []string{"svc-vault2", "vault", `svc-vault\x`, "", "alice"} {
		if backend.SameUser(other, "svc-vault") {
			t.Errorf("%q is the same as svc-vault", other)
		}
	}
	if backend.SameUser("", "") {
		t.Errorf("empty names are the same user")
	}
}

func TestValidateRunAsPatterns(t *testing.T) {
	got, err := ValidateRunAsPatterns("run_as_allowed", []string{" a* ", "", `corp\*`})
	if err != nil || strings.Join(got, "|") != `a*|corp\*` {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := ValidateRunAsPatterns("run_as_allowed", nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty: %#v, %v", got, err)
	}
	for _, bad := range []string{"a\x00", "b\nc", "a\u0085b", strings.Repeat("x", MaxUserNameLen+1), "\xff"} {
		_, err := ValidateRunAsPatterns("run_as_denied", []string{"ok", bad})
		if err == nil || !strings.Contains(err.Error(), "run_as_denied") {
			t.Errorf("%.20q: %v", bad, err)
			continue
		}
		noControl(t, err)
	}
}
