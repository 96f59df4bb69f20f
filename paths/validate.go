package paths

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/hashicorp/vault/sdk/framework"
)

// Limits of the upstream API.
const (
	MaxReasonLen       = 1000
	MaxTicketNumberLen = 20
)

// ValidateUserName checks a Password Safe user name used as run-as. It goes
// into the PS-Auth header (runas=...;), so separators and control
// characters are refused.
func ValidateUserName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if len(v) > 256 {
		return fmt.Errorf("%s is longer than 256 characters", field)
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

// ValidateRunAsSettings checks a run-as source and the settings it needs.
// empty is allowed (role: "as the config says"; config: fixed).
func ValidateRunAsSettings(source, mountAccessor, metadataKey string) error {
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

// CutReason cuts s to at most max characters without splitting one.
func CutReason(s string, max int) string {
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}
