package backend

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"
)

// ResolveRunAs decides which Password Safe user a call for req runs as,
// from the role (nil: the config alone), the config and the caller's
// identity. Refusals are logical.HTTPCodedErrors.
func (b *Engine) ResolveRunAs(ctx context.Context, req *logical.Request, cfg *Config, role *Role) (string, error) {
	return b.resolveRunAs(ctx, req, cfg, role)
}

// defaultResolveRunAs is THE place that decides which Password Safe user a
// request runs as. Every upstream call made for a caller (creds, role name
// resolution, requests, aliases, accounts) goes through it.
//
// The source is the role's run_as_source when the role sets one, else the
// role's fixed run_as, else the config's (EffectiveRunAs):
//
//	fixed            run_as (role, then config)
//	entity_name      the caller's Vault entity name
//	entity_alias     the name of the caller's entity alias on the auth mount
//	                 whose accessor is run_as_mount_accessor
//	entity_metadata  the caller's entity metadata at run_as_metadata_key
//
// The caller never names the user: identity decides, so Password Safe sees,
// audits and authorizes the real person. A caller without an entity, or
// without a value for the source, gets a 403 that names what is missing.
func (b *Engine) defaultResolveRunAs(_ context.Context, req *logical.Request, cfg *Config, role *Role) (string, error) {
	source, fixed := EffectiveRunAs(cfg, role)
	if cfg.OAuth() {
		if source != RunAsFixed || (role != nil && role.RunAs != "") {
			return "", logical.CodedError(http.StatusBadRequest,
				"the config signs in with OAuth client credentials, which act as one fixed Password Safe user; "+
					"remove run_as/run_as_source from the role or configure api_key instead")
		}
		return "", nil
	}
	switch source {
	case RunAsFixed:
		if fixed == "" {
			return "", logical.CodedError(http.StatusBadRequest,
				"no run-as user: set run_as on the config or on the role")
		}
		return fixed, nil
	case RunAsEntityName, RunAsEntityAlias, RunAsEntityMetadata:
	default:
		return "", logical.CodedError(http.StatusBadRequest,
			fmt.Sprintf("run_as_source %q is not supported; use %s, %s, %s or %s", source,
				RunAsFixed, RunAsEntityName, RunAsEntityAlias, RunAsEntityMetadata))
	}

	// Every identity-derived user signs in with the same API key and no
	// password: the config's password belongs to its run_as user alone.
	if cfg.Password != "" {
		return "", &InputError{Msg: fmt.Sprintf(
			"%s takes the Password Safe user from the caller's Vault identity (run_as_source=%s), which needs an API "+
				"registration that does not require the user's password; config has a password. Configure the api_key "+
				"of such a registration and clear the password",
			runAsScope(role), source), Err: ErrPasswordWithIdentity}
	}
	mountAccessor, metadataKey := RunAsSettings(cfg, role)
	ent, err := b.callerEntity(req, source, role)
	if err != nil {
		return "", err
	}
	var name, from string
	switch source {
	case RunAsEntityName:
		name, from = ent.Name, "the name of the caller's Vault entity"
		if name == "" {
			return "", forbidden("%s takes the Password Safe user from the caller's Vault entity name (run_as_source=%s), "+
				"but entity %s has no name", runAsScope(role), source, req.EntityID)
		}
	case RunAsEntityAlias:
		from = fmt.Sprintf("the caller's entity alias on the auth mount %s", mountAccessor)
		for _, a := range ent.Aliases {
			if a != nil && a.MountAccessor == mountAccessor {
				name = a.Name
				break
			}
		}
		if name == "" {
			return "", forbidden("%s takes the Password Safe user from the caller's entity alias on the auth mount with "+
				"accessor %q (run_as_source=%s, run_as_mount_accessor), but entity %s has no alias on that mount; "+
				"log in through that auth method (or have an operator create the entity alias)",
				runAsScope(role), mountAccessor, source, req.EntityID)
		}
	case RunAsEntityMetadata:
		from = fmt.Sprintf("the caller's entity metadata key %q", metadataKey)
		name = ent.Metadata[metadataKey]
		if name == "" {
			return "", &IdentityError{Msg: fmt.Sprintf("%s takes the Password Safe user from the caller's entity metadata key %q "+
				"(run_as_source=%s, run_as_metadata_key), but entity %s has no value for it",
				runAsScope(role), metadataKey, source, req.EntityID), EntityID: req.EntityID, MetadataKey: metadataKey}
		}
	}
	// The name goes into the PS-Auth header: refuse what could break it.
	// The message never repeats the value (it may hold control characters).
	if err := ValidateUserName(from, name); err != nil {
		return "", forbidden("cannot use %s as the Password Safe run-as user: %v", from, err)
	}
	if err := identityNameAllowed(cfg, role, fixed, name, from); err != nil {
		return "", err
	}
	return name, nil
}

// identityNameAllowed is the policy on identity-derived run-as users.
// Whoever controls an identity's name (an OIDC claim, a GitHub login, an
// AppRole role_id...) would otherwise choose whom Password Safe sees:
//
//   - the config's run_as (the engine's service account) and the role's
//     fixed run_as are never taken from an identity, in any case and with or
//     without a domain (SameUser);
//   - a name matching run_as_denied (as a whole, or its account part
//     without the domain) is refused;
//   - when run_as_allowed is not empty, a name must match one of it.
//
// Refusals are 403 RunAsRefusedErrors: nothing falls back to the config's
// run_as for them. name has passed ValidateUserName, so it may be quoted.
func identityNameAllowed(cfg *Config, role *Role, fixed, name, from string) error {
	refuse := func(format string, args ...interface{}) error {
		return &RunAsRefusedError{Msg: fmt.Sprintf("cannot use %s as the Password Safe run-as user: ", from) +
			fmt.Sprintf(format, args...)}
	}
	if SameUser(name, cfg.RunAs) {
		return refuse("%q names the engine's service account (the config's run_as), which is never taken from a "+
			"caller's Vault identity; the identity must name the caller's own Password Safe user", name)
	}
	if fixed != cfg.RunAs && SameUser(name, fixed) {
		return refuse("%q names the run_as user of %s, which is never taken from a caller's Vault identity", name, runAsScope(role))
	}
	if MatchAnyUserPattern(cfg.RunAsDenied, name) || MatchAnyUserPattern(cfg.RunAsDenied, AccountPart(name)) {
		return refuse("%q is not allowed by run_as_denied on the config", name)
	}
	if len(cfg.RunAsAllowed) > 0 && !MatchAnyUserPattern(cfg.RunAsAllowed, name) {
		return refuse("%q is not allowed by run_as_allowed on the config (it matches none of its patterns)", name)
	}
	return nil
}

// callerEntity is the caller's enabled Vault entity, or a 403 saying why
// there is none.
func (b *Engine) callerEntity(req *logical.Request, source string, role *Role) (*logical.Entity, error) {
	if req.EntityID == "" {
		return nil, forbidden("%s takes the Password Safe user from the caller's Vault identity (run_as_source=%s), "+
			"but this token has no identity entity (root tokens and tokens created without an entity have none); "+
			"log in through an auth method", runAsScope(role), source)
	}
	sys := b.System()
	if sys == nil {
		return nil, fmt.Errorf("looking up the caller's Vault entity: no system view")
	}
	ent, err := sys.EntityInfo(req.EntityID)
	if err != nil {
		return nil, fmt.Errorf("looking up the caller's Vault entity %s: %w", req.EntityID, err)
	}
	if ent == nil {
		return nil, forbidden("%s takes the Password Safe user from the caller's Vault identity (run_as_source=%s), "+
			"but the caller's entity %s was not found", runAsScope(role), source, req.EntityID)
	}
	if ent.Disabled {
		return nil, forbidden("the caller's Vault entity %s is disabled", req.EntityID)
	}
	return ent, nil
}

// runAsScope names where the run-as settings came from, for messages.
func runAsScope(role *Role) string {
	if role != nil && role.RunAsSource != "" {
		return fmt.Sprintf("role %q", role.Name)
	}
	return "the config"
}

func forbidden(format string, args ...interface{}) error {
	return logical.CodedError(http.StatusForbidden, fmt.Sprintf(format, args...))
}
