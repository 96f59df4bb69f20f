package paths

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Input limits. Every limit counts characters (runes), never bytes, and
// every path checks a kind of field with the same function below, before
// anything is sent to Password Safe or stored.
const (
	// MaxReasonLen is Password Safe's limit on a request's Reason and on the
	// reason of a check-in, approval or denial.
	MaxReasonLen = 1000
	// ReasonTagReserve is the room kept at the end of the Reason of every
	// request the engine creates, for the tag it appends to find the request
	// again after a crash.
	ReasonTagReserve = 40
	// MaxRequestReasonLen bounds reasons that end up in POST Requests: a
	// role's reason and the reason of creds and requests writes.
	MaxRequestReasonLen = MaxReasonLen - ReasonTagReserve
	// MaxTicketNumberLen is Password Safe's limit on TicketNumber.
	MaxTicketNumberLen = 20
	// MaxNameLen bounds system, account, alias and workgroup names.
	MaxNameLen = client.MaxNameLength
	// MaxUserNameLen bounds a run-as user name.
	MaxUserNameLen = 256
	// MaxID is the largest ID Password Safe uses (IDs are 32-bit).
	MaxID = math.MaxInt32
)

// Which characters a field may hold. Control characters are C0
// (U+0000-U+001F), DEL and C1 (U+0080-U+009F). Reasons are free text and
// may hold newline and tab; no other field may hold any control character.
// Invalid UTF-8 is refused everywhere. Messages name the field and never
// repeat the value.

// checkChars checks that v is valid UTF-8 of at most max characters and
// holds no control character but those in allowed.
func checkChars(field, v string, max int, allowed string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("%s is longer than %d characters (it has %d)", field, max, n)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			if allowed != "" {
				return fmt.Errorf("%s must not contain control characters (newline and tab are allowed)", field)
			}
			return fmt.Errorf("%s must not contain control characters", field)
		}
	}
	return nil
}

// ValidateReason checks a reason: at most max characters (MaxRequestReasonLen
// for reasons of requests the engine creates, MaxReasonLen for check-in,
// approve and deny), no control characters but newline and tab. Empty is
// valid (the caller's default applies).
func ValidateReason(field, v string, max int) error {
	return checkChars(field, v, max, "\n\t")
}

// ValidateTicketNumber checks a ticket number: at most MaxTicketNumberLen
// characters, one line, no control characters. Empty is valid (no ticket).
func ValidateTicketNumber(field, v string) error {
	return checkChars(field, v, MaxTicketNumberLen, "")
}

// ValidateName checks a name sent to Password Safe (system, account,
// alias, workgroup, type): not empty or blank, not "." or ".." (a name may
// become a URL path segment), at most MaxNameLen characters, no control
// characters.
func ValidateName(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s must not be empty", field)
	case v == "." || v == "..":
		return fmt.Errorf("%s must not be %q", field, v)
	}
	if err := checkChars(field, v, MaxNameLen, ""); err != nil {
		return err
	}
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s must not be blank", field)
	}
	return nil
}

// ValidateUserName checks a Password Safe user name used as run-as. It goes
// into the PS-Auth header (runas=...;), so separators and control
// characters are refused: at most MaxUserNameLen characters, no control
// characters, ';', '[' or ']', no leading or trailing spaces.
func ValidateUserName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > MaxUserNameLen {
		return fmt.Errorf("%s is longer than %d characters", field, MaxUserNameLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == ';' || r == '[' || r == ']' {
			return fmt.Errorf("%s must not contain control characters, ';', '[' or ']'", field)
		}
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("%s must not start or end with spaces", field)
	}
	return nil
}

// ValidateSecret checks a secret that goes into an HTTP header or form
// (api_key, password, client_id, client_secret): no control characters.
// The message never repeats the value.
func ValidateSecret(field, v string) error {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b == 0x7f {
			return fmt.Errorf("%s must not contain control characters", field)
		}
	}
	return nil
}

// ValidateID checks a Password Safe ID: a positive 32-bit integer.
func ValidateID(field string, id int) error {
	if id <= 0 || id > MaxID {
		return fmt.Errorf("%s must be a positive integer (at most %d)", field, MaxID)
	}
	return nil
}

// ValidateOptionalID is ValidateID where 0 means "not set".
func ValidateOptionalID(field string, id int) error {
	if id == 0 {
		return nil
	}
	if id < 0 || id > MaxID {
		return fmt.Errorf("%s must be a positive integer (at most %d), or 0 for none", field, MaxID)
	}
	return nil
}

// ParseID reads an ID captured from a path: decimal digits only, then
// ValidateID.
func ParseID(field, s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s must be a positive integer (at most %d)", field, MaxID)
	}
	id, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s must be a positive integer (at most %d)", field, MaxID)
	}
	if err := ValidateID(field, id); err != nil {
		return 0, err
	}
	return id, nil
}

// CutReason returns s cut to at most max characters, never splitting a
// UTF-8 character, for reasons the engine builds (which may hold a long
// lease ID).
func CutReason(s string, max int) string {
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// ValidateRunAsSettings checks a run-as source and the settings it needs.
// empty is allowed (role: "as the config says"; config: fixed).
func ValidateRunAsSettings(source, mountAccessor, metadataKey string) error {
	if mountAccessor != "" {
		if err := ValidateName("run_as_mount_accessor", mountAccessor); err != nil {
			return err
		}
	}
	if metadataKey != "" {
		if err := ValidateName("run_as_metadata_key", metadataKey); err != nil {
			return err
		}
	}
	switch source {
	case "", RunAsFixed, RunAsEntityName:
	case RunAsEntityAlias:
		if mountAccessor == "" {
			return fmt.Errorf("run_as_source=%s needs run_as_mount_accessor (the accessor of the auth mount whose alias names the Password Safe user)", source)
		}
	case RunAsEntityMetadata:
		if metadataKey == "" {
			return fmt.Errorf("run_as_source=%s needs run_as_metadata_key (the entity metadata key that holds the Password Safe user name)", source)
		}
	default:
		return fmt.Errorf("run_as_source must be one of %s, %s, %s, %s (got %q)",
			RunAsFixed, RunAsEntityName, RunAsEntityAlias, RunAsEntityMetadata, source)
	}
	return nil
}

// ValidateRunAsPatterns checks the patterns of run_as_allowed or
// run_as_denied: each at most MaxUserNameLen characters, no control
// characters. Empty entries are dropped; the result is what to store.
func ValidateRunAsPatterns(field string, patterns []string) ([]string, error) {
	out := []string{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := checkChars(field+" pattern", p, MaxUserNameLen, ""); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// MatchUserPattern reports whether a Password Safe user name matches a
// run_as_allowed or run_as_denied pattern: '*' matches any run of
// characters (backslashes included: corp\* matches every CORP\user), '?'
// any one character, every other character itself, ignoring case (Password
// Safe user names are case-insensitive). There is no escaping.
func MatchUserPattern(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case pi < len(p) && (p[pi] == '?' || foldEqual(p[pi], n[ni])):
			pi++
			ni++
		case star >= 0:
			pi, mark = star+1, mark+1
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// MatchAnyUserPattern reports whether name matches one of patterns.
func MatchAnyUserPattern(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchUserPattern(p, name) {
			return true
		}
	}
	return false
}

// SameUser reports whether a and b may name the same Password Safe user:
// equal ignoring case, or with equal account parts (the name without a
// DOMAIN\ prefix and an @domain suffix), so svc-vault, CORP\SVC-VAULT and
// svc-vault@corp.example are all the same user here. It errs on the side
// of "same": it guards the engine's service account.
func SameUser(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if strings.EqualFold(a, b) {
		return true
	}
	pa, pb := AccountPart(a), AccountPart(b)
	return pa != "" && strings.EqualFold(pa, pb)
}

// AccountPart is a user name without a DOMAIN\ prefix and an @domain
// suffix.
func AccountPart(name string) string {
	if i := strings.LastIndex(name, "\\"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	return name
}

// foldEqual reports whether a and b are equal under Unicode simple case
// folding (as strings.EqualFold compares).
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// RunAsRefusedError is the 403 for a caller whose Vault identity names a
// Password Safe user the config does not allow (the engine's service
// account, or a name refused by run_as_allowed or run_as_denied). Unlike a
// missing identity, it never falls back to the config's run_as.
type RunAsRefusedError struct{ Msg string }

func (e *RunAsRefusedError) Error() string { return e.Msg }

// Code makes it a logical.HTTPCodedError: 403.
func (e *RunAsRefusedError) Code() int { return http.StatusForbidden }

// IsRunAsRefused reports whether err is a RunAsRefusedError.
func IsRunAsRefused(err error) bool {
	var r *RunAsRefusedError
	return errors.As(err, &r)
}

// RunAsFields are the run-as fields shared by config and roles.
func RunAsFields(onRole bool) map[string]*framework.FieldSchema {
	scope := "the config"
	if onRole {
		scope = "this role (overrides the config)"
	}
	return map[string]*framework.FieldSchema{
		"run_as": {
			Type: framework.TypeString,
			Description: "Password Safe user that requests run as for " + scope +
				" (API-key sign-in only). Domain users as DOMAIN\\user.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run as", Group: "Run as"},
		},
		"run_as_source": {
			Type: framework.TypeString,
			Description: "Where the run-as user comes from for " + scope + ": fixed (run_as), entity_name " +
				"(the caller's Vault entity name), entity_alias (the caller's alias name on run_as_mount_accessor) " +
				"or entity_metadata (the caller's entity metadata at run_as_metadata_key).",
			AllowedValues: []interface{}{RunAsFixed, RunAsEntityName, RunAsEntityAlias, RunAsEntityMetadata},
			DisplayAttrs:  &framework.DisplayAttributes{Name: "Run-as source", Group: "Run as"},
		},
		"run_as_mount_accessor": {
			Type:         framework.TypeString,
			Description:  "For run_as_source=entity_alias: the accessor of the auth mount whose alias name is the Password Safe user.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run-as auth mount accessor", Group: "Run as"},
		},
		"run_as_metadata_key": {
			Type:         framework.TypeString,
			Description:  "For run_as_source=entity_metadata: the entity metadata key holding the Password Safe user name.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Run-as metadata key", Group: "Run as"},
		},
	}
}

// mergeFields returns the union of field maps (later ones win).
func mergeFields(ms ...map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	out := map[string]*framework.FieldSchema{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
