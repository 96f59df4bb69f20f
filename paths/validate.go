package paths

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Input limits. Every limit counts characters (runes), never bytes, and
// every path checks a kind of field with the same function below, before
// anything is sent to Password Safe or stored.
const (
	// The engine's own limits (see package backend).
	MaxReasonLen        = backend.MaxReasonLen
	MaxRequestReasonLen = backend.MaxRequestReasonLen
	MaxUserNameLen      = backend.MaxUserNameLen
	// MaxTicketNumberLen is Password Safe's limit on TicketNumber.
	MaxTicketNumberLen = 20
	// MaxNameLen bounds system, account, alias and workgroup names.
	MaxNameLen = client.MaxNameLength
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
	case "", backend.RunAsFixed, backend.RunAsEntityName:
	case backend.RunAsEntityAlias:
		if mountAccessor == "" {
			return fmt.Errorf("run_as_source=%s needs run_as_mount_accessor (the accessor of the auth mount whose alias names the Password Safe user)", source)
		}
	case backend.RunAsEntityMetadata:
		if metadataKey == "" {
			return fmt.Errorf("run_as_source=%s needs run_as_metadata_key (the entity metadata key that holds the Password Safe user name)", source)
		}
	default:
		return fmt.Errorf("run_as_source must be one of %s, %s, %s, %s (got %q)",
			backend.RunAsFixed, backend.RunAsEntityName, backend.RunAsEntityAlias, backend.RunAsEntityMetadata, source)
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
			AllowedValues: []interface{}{backend.RunAsFixed, backend.RunAsEntityName, backend.RunAsEntityAlias, backend.RunAsEntityMetadata},
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
