package pstest

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// World is everything the simulator knows before the first call: users,
// API registrations, OAuth clients, managed systems with their accounts and
// access policies, and aliases. It loads from JSON or YAML (see LoadWorld and
// testdata/world.yaml). NewServer copies it, so changing a World after
// NewServer does not change the server; use Server.Edit.
type World struct {
	Users            []User            `json:"users" yaml:"users"`
	APIRegistrations []APIRegistration `json:"apiRegistrations" yaml:"apiRegistrations"`
	OAuthClients     []OAuthClient     `json:"oauthClients,omitempty" yaml:"oauthClients,omitempty"`
	Systems          []System          `json:"systems" yaml:"systems"`
	Aliases          []Alias           `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	// Folders and Secrets are the Secrets Safe (see secrets.go).
	Folders []Folder `json:"folders,omitempty" yaml:"folders,omitempty"`
	Secrets []Secret `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	// SessionIdleMinutes is how long a session lives without a call, on the
	// simulator's clock. 0 means 20 (the real server's default).
	SessionIdleMinutes int `json:"sessionIdleMinutes,omitempty" yaml:"sessionIdleMinutes,omitempty"`
	// LicenseInvalid makes Auth/SignAppin answer 403.
	LicenseInvalid bool `json:"licenseInvalid,omitempty" yaml:"licenseInvalid,omitempty"`
	// APIDisabled makes every API call answer 410 (API version disabled).
	APIDisabled bool `json:"apiDisabled,omitempty" yaml:"apiDisabled,omitempty"`
}

// Roles a User may hold (User.Roles).
const (
	RoleRequestor         = "requestor"
	RoleApprover          = "approver"
	RoleRequestorApprover = "requestor/approver"
	RoleISA               = "isa"
)

// User is a Password Safe user. Names are matched case-insensitively (as
// Windows account names are); domain users are written DOMAIN\name.
type User struct {
	ID          int      `json:"id,omitempty" yaml:"id,omitempty"` // 0 = assigned (1, 2, ...)
	Name        string   `json:"name" yaml:"name"`
	Password    string   `json:"password" yaml:"password"`
	Email       string   `json:"email,omitempty" yaml:"email,omitempty"`
	DisplayName string   `json:"displayName,omitempty" yaml:"displayName,omitempty"`
	Roles       []string `json:"roles" yaml:"roles"` // requestor, approver, requestor/approver, isa
	// ISASystemIDs are the managed systems on which the user has the ISA
	// role (POST ISARequests).
	ISASystemIDs []int `json:"isaSystemIds,omitempty" yaml:"isaSystemIds,omitempty"`
	// AccountManagement is the "Password Safe Account Management (Full
	// control)" feature permission, which POST
	// ManagedAccounts/{id}/Credentials/Change requires (403 4031 without).
	AccountManagement bool `json:"accountManagement,omitempty" yaml:"accountManagement,omitempty"`
	// SecretsSafe is the Secrets Safe (Read) feature permission: without
	// it every Secrets-Safe call answers 403.
	SecretsSafe bool `json:"secretsSafe,omitempty" yaml:"secretsSafe,omitempty"`
}

// APIRegistration is an API key and its authentication rules: whether
// sign-in also needs the run-as user's password (pwd=[...]), and whether
// it needs a client certificate issued by the server's ClientCA
// ("Client Certificate Required" in BeyondInsight; without it, client
// certificates are ignored).
type APIRegistration struct {
	Name              string `json:"name" yaml:"name"`
	Key               string `json:"key" yaml:"key"`
	RequirePassword   bool   `json:"requirePassword,omitempty" yaml:"requirePassword,omitempty"`
	RequireClientCert bool   `json:"requireClientCert,omitempty" yaml:"requireClientCert,omitempty"`
}

// OAuthClient is an API registration for the client-credentials grant. The
// bearer token signs in as User.
type OAuthClient struct {
	ID     string `json:"id" yaml:"id"`
	Secret string `json:"secret" yaml:"secret"`
	User   string `json:"user" yaml:"user"`
}

// System is a managed system.
type System struct {
	ID         int       `json:"id" yaml:"id"`
	Name       string    `json:"name" yaml:"name"`
	DomainName string    `json:"domainName,omitempty" yaml:"domainName,omitempty"`
	PlatformID int       `json:"platformId,omitempty" yaml:"platformId,omitempty"` // 0 = 4 (Linux) without domain, 1 (Windows) with
	Workgroup  string    `json:"workgroup,omitempty" yaml:"workgroup,omitempty"`   // "" = "BeyondTrust Workgroup"
	Accounts   []Account `json:"accounts" yaml:"accounts"`
}

// Account is a managed account. Account IDs are unique across systems.
type Account struct {
	ID       int    `json:"id" yaml:"id"`
	Name     string `json:"name" yaml:"name"`
	Password string `json:"password" yaml:"password"`
	// PrivateKey is the DSS key as it was set; Passphrase non-empty means the
	// key is encrypted (only then can type=passphrase be read).
	PrivateKey string `json:"privateKey,omitempty" yaml:"privateKey,omitempty"`
	Passphrase string `json:"passphrase,omitempty" yaml:"passphrase,omitempty"`
	// MaxReleaseMinutes is the account's MaximumReleaseDuration (0 = 10080);
	// DefaultReleaseMinutes its DefaultReleaseDuration (0 = min(120, max)).
	MaxReleaseMinutes     int `json:"maxReleaseMinutes,omitempty" yaml:"maxReleaseMinutes,omitempty"`
	DefaultReleaseMinutes int `json:"defaultReleaseMinutes,omitempty" yaml:"defaultReleaseMinutes,omitempty"`
	// Exclusive: any user's active request blocks every other user's
	// request for the account (409). Otherwise only the same user conflicts.
	Exclusive bool `json:"exclusive,omitempty" yaml:"exclusive,omitempty"`
	// APIEnabled nil means true. A disabled account is not listed and
	// cannot be requested (403 4031).
	APIEnabled *bool `json:"apiEnabled,omitempty" yaml:"apiEnabled,omitempty"`
	// DisableRotation: the account does not change its password after a
	// release, so RotateOnCheckin is ignored.
	DisableRotation bool `json:"disableRotation,omitempty" yaml:"disableRotation,omitempty"`
	// ApplicationID (with ApplicationName) enables AccessType App.
	ApplicationID   int    `json:"applicationId,omitempty" yaml:"applicationId,omitempty"`
	ApplicationName string `json:"applicationName,omitempty" yaml:"applicationName,omitempty"`
	Description     string `json:"description,omitempty" yaml:"description,omitempty"`
	Policy          Policy `json:"policy" yaml:"policy"`
}

// Policy is the account's access policy.
type Policy struct {
	// Requestors may request the account; nil means every user holding a
	// requestor role ("*" does the same explicitly); an empty list means nobody.
	Requestors []string `json:"requestors,omitempty" yaml:"requestors,omitempty"`
	// Approvers may approve or deny requests for the account (they need an
	// approver role). RequiredApprovals 0 means auto-approve.
	Approvers         []string `json:"approvers,omitempty" yaml:"approvers,omitempty"`
	RequiredApprovals int      `json:"requiredApprovals,omitempty" yaml:"requiredApprovals,omitempty"`
}

// Alias is a managed account alias. State is the mapped state (AliasState):
// 0 unmapped, 1 mapped, 2 highly available, 3 mapped but unavailable. Only 1
// and 2 can be requested.
type Alias struct {
	ID        int    `json:"id" yaml:"id"`
	Name      string `json:"name" yaml:"name"`
	SystemID  int    `json:"systemId" yaml:"systemId"`
	AccountID int    `json:"accountId" yaml:"accountId"`
	State     int    `json:"state" yaml:"state"`
}

// Bool returns a pointer to b (for Account.APIEnabled).
func Bool(b bool) *bool { return &b }

// Demo world credentials. They are public test values.
const (
	// DemoAPIKey = hex(SHA-512("vault-passwordsafe demo api key")); registration
	// "vault-engine", no password required.
	DemoAPIKey = "a43cbed117ea2856a604edda995f44d4aa1ac021de316492ebb9712d9a6a6a4617437bd087707b27843c3086e9f5a106f051baa0bd65bf8f0f7af94e0a697956"
	// DemoAPIKeyWithPassword = hex(SHA-512("vault-passwordsafe demo api key with password"));
	// registration "vault-engine-pwd", requires the run-as user's password.
	DemoAPIKeyWithPassword = "a9ea3ed745f6f93cd145c315fa3d13de37c424ce95a51d05e4bcb25c9165c692bab8834aa05e9b6159e8e11346350fd1085245a5d372b743358146834ffed4df"
	// DemoAPIKeyWithClientCert = hex(SHA-512("vault-passwordsafe demo api key with client certificate"));
	// registration "vault-engine-cert", requires a client certificate from the server's ClientCA.
	DemoAPIKeyWithClientCert = "776f2bbe15daa6c98a01b5b12b5fe5eb359da8d61fdffd23fdb695a434e1d91db9372e33b2c011e0328040a660eff2138f602df955bb24ef10fffe4331a8ac86"
	DemoClientID             = "6f1d3c2a-8b4e-4f7a-9c21-5d0e8a7b3f64"
	DemoClientSecret         = "yIl4xX37fYhr9KS98k8tHbOgW5y5HbnbVm58Eo1BEZK63gMN"

	DemoUserSvcVault = "svc-vault"
	DemoUserAlice    = "alice"
	DemoUserBob      = "bob"
	DemoUserCarol    = "carol"
	DemoUserDave     = "dave"
	DemoUserErin     = `EXAMPLE\erin`
	DemoUserISA      = "isa-ops"

	DemoPasswordSvcVault = "Svc-Vault-Pw-1!"
	DemoPasswordAlice    = "Alice-Pw-1!"
	DemoPasswordBob      = "Bob-Pw-1!"
	DemoPasswordCarol    = "Carol-Pw-1!"
	DemoPasswordDave     = "Dave-Pw-1!"
	DemoPasswordErin     = "Erin-Pw-1!"
	DemoPasswordISA      = "Isa-Pw-1!"

	// DemoPassphrase21 unlocks the encrypted DSS key of account 21 (web-01/root).
	DemoPassphrase21 = "web-root-key-passphrase"
)

// DemoWorld returns a fresh copy of the demo world: systems
// 1-4 (accounts 11, 12, 21, 22, 31, 41), 40 load-NN systems (100..139, account
// system*10+1 "svc"), aliases 1-3, the demo users, API keys and OAuth client.
// Account 12 (db-prod-01/app_user) is exclusive. Only svc-vault holds
// Account Management (it may change credentials on demand). Its Secrets Safe
// (see demoSecretsSafe) has folders Team (Team/DB, Team/Web), readable by
// every requestor, and Finance, readable by svc-vault and dave; the
// requestors hold the Secrets Safe permission, bob and isa-ops do not.
func DemoWorld() *World {
	everyone := []string{DemoUserSvcVault, DemoUserAlice, DemoUserCarol, DemoUserDave, DemoUserErin}
	auto := func() Policy { return Policy{Requestors: append([]string(nil), everyone...)} }
	w := &World{
		Users: []User{
			{ID: 1, Name: DemoUserSvcVault, Password: DemoPasswordSvcVault, Roles: []string{RoleRequestor}, DisplayName: "Vault secrets engine", SecretsSafe: true, AccountManagement: true},
			{ID: 2, Name: DemoUserAlice, Password: DemoPasswordAlice, Roles: []string{RoleRequestor}, DisplayName: "Alice Requestor", SecretsSafe: true},
			{ID: 3, Name: DemoUserBob, Password: DemoPasswordBob, Roles: []string{RoleApprover}, DisplayName: "Bob Approver"},
			{ID: 4, Name: DemoUserCarol, Password: DemoPasswordCarol, Roles: []string{RoleRequestor}, DisplayName: "Carol Requestor", SecretsSafe: true},
			{ID: 5, Name: DemoUserDave, Password: DemoPasswordDave, Roles: []string{RoleRequestorApprover}, DisplayName: "Dave Requestor-Approver", SecretsSafe: true},
			{ID: 6, Name: DemoUserErin, Password: DemoPasswordErin, Roles: []string{RoleRequestor}, DisplayName: "Erin Domain User", Email: "erin@example.com", SecretsSafe: true},
			{ID: 7, Name: DemoUserISA, Password: DemoPasswordISA, Roles: []string{RoleISA}, ISASystemIDs: []int{1}, DisplayName: "ISA Operator"},
		},
		APIRegistrations: []APIRegistration{
			{Name: "vault-engine", Key: DemoAPIKey},
			{Name: "vault-engine-pwd", Key: DemoAPIKeyWithPassword, RequirePassword: true},
			{Name: "vault-engine-cert", Key: DemoAPIKeyWithClientCert, RequireClientCert: true},
		},
		OAuthClients: []OAuthClient{{ID: DemoClientID, Secret: DemoClientSecret, User: DemoUserSvcVault}},
		Systems: []System{
			{ID: 1, Name: "db-prod-01", PlatformID: 10, Accounts: []Account{
				{ID: 11, Name: "postgres", Password: "Pg-Prod-01-Initial!9kQ", MaxReleaseMinutes: 10080, DefaultReleaseMinutes: 120, Policy: auto(), Description: "PostgreSQL superuser"},
				{ID: 12, Name: "app_user", Password: "App-User-Initial!4mZ", MaxReleaseMinutes: 10080, DefaultReleaseMinutes: 120, Exclusive: true, Policy: auto(), Description: "application account (exclusive checkout)"},
			}},
			{ID: 2, Name: "web-01", PlatformID: 4, Accounts: []Account{
				{ID: 21, Name: "root", Password: "Web-01-Root-Initial!7xT", PrivateKey: demoDSSKey("web-01/root", true), Passphrase: DemoPassphrase21, MaxReleaseMinutes: 1440, DefaultReleaseMinutes: 60, Policy: auto()},
				{ID: 22, Name: "deploy", Password: "Web-01-Deploy-Initial!2wR", PrivateKey: demoDSSKey("web-01/deploy", false), MaxReleaseMinutes: 1440, DefaultReleaseMinutes: 60, Policy: auto()},
			}},
			{ID: 3, Name: "fin-db-01", PlatformID: 10, Accounts: []Account{
				{ID: 31, Name: "sa", Password: "Fin-Db-Sa-Initial!5hP", MaxReleaseMinutes: 480, DefaultReleaseMinutes: 60,
					Policy: Policy{Requestors: append([]string(nil), everyone...), Approvers: []string{DemoUserBob, DemoUserDave}, RequiredApprovals: 1}},
			}},
			{ID: 4, Name: "win-app-01", DomainName: "EXAMPLE", PlatformID: 1, Accounts: []Account{
				{ID: 41, Name: "svc_app", Password: "Win-App-Svc-Initial!3nV", MaxReleaseMinutes: 60, DefaultReleaseMinutes: 30, ApplicationID: 501, ApplicationName: "Billing App", Policy: auto()},
			}},
		},
		Aliases: []Alias{
			{ID: 1, Name: "prod-db-admin", SystemID: 1, AccountID: 11, State: 1},
			{ID: 2, Name: "web-root", SystemID: 2, AccountID: 21, State: 1},
			{ID: 3, Name: "fin-sa", SystemID: 3, AccountID: 31, State: 2},
		},
		SessionIdleMinutes: 20,
	}
	w.Folders, w.Secrets = demoSecretsSafe()
	for i := 0; i < 40; i++ {
		id := 100 + i
		w.Systems = append(w.Systems, System{ID: id, Name: fmt.Sprintf("load-%02d", i), PlatformID: 4, Accounts: []Account{
			{ID: id*10 + 1, Name: "svc", Password: fmt.Sprintf("Load-%02d-Svc-Initial!", i), MaxReleaseMinutes: 10080, DefaultReleaseMinutes: 120, Policy: auto()},
		}})
	}
	return w
}

// demoDSSKey builds deterministic, realistic-looking DSA PEM text. It is not a
// usable key: the simulator only hands it back byte for byte. (Built at run
// time so the repository holds no private-key block for scanners to flag.)
func demoDSSKey(seed string, encrypted bool) string {
	var body bytes.Buffer
	for i := 0; body.Len() < 660; i++ {
		sum := sha512.Sum512([]byte(fmt.Sprintf("%s/%d", seed, i)))
		body.Write(sum[:])
	}
	b64 := base64.StdEncoding.EncodeToString(body.Bytes()[:660])
	var sb strings.Builder
	sb.WriteString("-----BEGIN DSA " + "PRIVATE KEY-----\n")
	if encrypted {
		iv := sha512.Sum512([]byte(seed + "/iv"))
		fmt.Fprintf(&sb, "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,%X\n\n", iv[:16])
	}
	for len(b64) > 64 {
		sb.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	sb.WriteString(b64 + "\n")
	sb.WriteString("-----END DSA " + "PRIVATE KEY-----\n")
	return sb.String()
}

// LoadWorld reads a world from a .json, .yaml or .yml file. Unknown fields
// are errors (a typo in a fixture should not pass silently), and the world
// is validated.
func LoadWorld(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pstest: load world: %w", err)
	}
	var w World
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("pstest: load world %s: %w", path, err)
		}
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("pstest: load world %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("pstest: load world %s: unknown extension (want .json, .yaml or .yml)", path)
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("pstest: load world %s: %w", path, err)
	}
	return &w, nil
}

// Validate checks that IDs are unique and every reference resolves.
func (w *World) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	users := map[string]*User{}
	userIDs := map[int]bool{}
	for i := range w.Users {
		u := &w.Users[i]
		key := strings.ToLower(u.Name)
		if u.Name == "" {
			bad("user #%d: empty name", i+1)
			continue
		}
		if users[key] != nil {
			bad("user %q: defined twice", u.Name)
		}
		users[key] = u
		if u.ID != 0 {
			if userIDs[u.ID] {
				bad("user %q: id %d used twice", u.Name, u.ID)
			}
			userIDs[u.ID] = true
		}
		for _, r := range u.Roles {
			switch strings.ToLower(r) {
			case RoleRequestor, RoleApprover, RoleRequestorApprover, RoleISA:
			default:
				bad("user %q: unknown role %q (want requestor, approver, requestor/approver or isa)", u.Name, r)
			}
		}
	}
	keys := map[string]bool{}
	for i, reg := range w.APIRegistrations {
		if reg.Key == "" {
			bad("api registration #%d (%s): empty key", i+1, reg.Name)
		}
		if keys[reg.Key] {
			bad("api registration %q: key used twice", reg.Name)
		}
		keys[reg.Key] = true
	}
	for i, c := range w.OAuthClients {
		if c.ID == "" || c.Secret == "" {
			bad("oauth client #%d: empty id or secret", i+1)
		}
		if users[strings.ToLower(c.User)] == nil {
			bad("oauth client %q: unknown user %q", c.ID, c.User)
		}
	}
	systems := map[int]*System{}
	accounts := map[int]int{} // account ID -> system ID
	for i := range w.Systems {
		sys := &w.Systems[i]
		if sys.ID <= 0 || systems[sys.ID] != nil {
			bad("system %q: id %d missing or used twice", sys.Name, sys.ID)
		}
		systems[sys.ID] = sys
		if sys.Name == "" {
			bad("system %d: empty name", sys.ID)
		}
		for j := range sys.Accounts {
			a := &sys.Accounts[j]
			if a.ID <= 0 {
				bad("system %q account %q: id missing", sys.Name, a.Name)
			} else if _, dup := accounts[a.ID]; dup {
				bad("account id %d used twice", a.ID)
			}
			accounts[a.ID] = sys.ID
			if a.Name == "" {
				bad("account %d: empty name", a.ID)
			}
			if a.MaxReleaseMinutes < 0 || a.MaxReleaseMinutes > maxDurationMinutes {
				bad("account %d: maxReleaseMinutes %d out of 0..%d", a.ID, a.MaxReleaseMinutes, maxDurationMinutes)
			}
			if a.DefaultReleaseMinutes < 0 {
				bad("account %d: negative defaultReleaseMinutes", a.ID)
			}
			if a.Passphrase != "" && a.PrivateKey == "" {
				bad("account %d: passphrase without private key", a.ID)
			}
			for _, name := range a.Policy.Requestors {
				if name != "*" && users[strings.ToLower(name)] == nil {
					bad("account %d: unknown requestor %q", a.ID, name)
				}
			}
			for _, name := range a.Policy.Approvers {
				u := users[strings.ToLower(name)]
				switch {
				case u == nil:
					bad("account %d: unknown approver %q", a.ID, name)
				case !hasRole(u.Roles, RoleApprover):
					bad("account %d: approver %q has no approver role", a.ID, name)
				}
			}
			if a.Policy.RequiredApprovals < 0 {
				bad("account %d: negative requiredApprovals", a.ID)
			}
		}
	}
	for _, u := range w.Users {
		for _, sid := range u.ISASystemIDs {
			if systems[sid] == nil {
				bad("user %q: unknown ISA system %d", u.Name, sid)
			}
		}
	}
	aliasIDs := map[int]bool{}
	aliasNames := map[string]bool{}
	for _, al := range w.Aliases {
		if al.ID <= 0 || aliasIDs[al.ID] {
			bad("alias %q: id %d missing or used twice", al.Name, al.ID)
		}
		aliasIDs[al.ID] = true
		if al.Name == "" || aliasNames[strings.ToLower(al.Name)] {
			bad("alias %d: name %q empty or used twice", al.ID, al.Name)
		}
		aliasNames[strings.ToLower(al.Name)] = true
		if sid, ok := accounts[al.AccountID]; !ok || sid != al.SystemID {
			bad("alias %q: account %d is not an account of system %d", al.Name, al.AccountID, al.SystemID)
		}
	}
	if w.SessionIdleMinutes < 0 {
		bad("negative sessionIdleMinutes")
	}
	validateSecretsSafe(w, users, bad)
	return errors.Join(errs...)
}

// hasRole reports whether roles grants want ("requestor/approver" grants both).
func hasRole(roles []string, want string) bool {
	for _, r := range roles {
		r = strings.ToLower(r)
		if r == want || (r == RoleRequestorApprover && (want == RoleRequestor || want == RoleApprover)) {
			return true
		}
	}
	return false
}

// clone deep-copies w through JSON (simple, and the world is small).
func (w *World) clone() *World {
	data, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("pstest: copy world: %v", err))
	}
	var c World
	if err := json.Unmarshal(data, &c); err != nil {
		panic(fmt.Sprintf("pstest: copy world: %v", err))
	}
	return &c
}

// Credentials is what a script needs to sign in to a world (GET /_pstest/world,
// passwordsafe-sim -print-credentials). It holds secrets: only for test worlds.
type Credentials struct {
	APIURL           string                `json:"api_url,omitempty"`
	APIRegistrations []CredentialsAPIKey   `json:"api_registrations"`
	OAuthClients     []CredentialsOAuth    `json:"oauth_clients"`
	Users            []CredentialsUserInfo `json:"users"`
}

// CredentialsAPIKey is one API registration in Credentials.
type CredentialsAPIKey struct {
	Name              string `json:"name"`
	Key               string `json:"key"`
	RequirePassword   bool   `json:"require_password"`
	RequireClientCert bool   `json:"require_client_cert"`
}

// CredentialsOAuth is one OAuth client in Credentials.
type CredentialsOAuth struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	User         string `json:"user"`
}

// CredentialsUserInfo is one user in Credentials.
type CredentialsUserInfo struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

// Credentials lists the world's API keys, OAuth clients and users.
func (w *World) Credentials() Credentials {
	c := Credentials{
		APIRegistrations: []CredentialsAPIKey{},
		OAuthClients:     []CredentialsOAuth{},
		Users:            []CredentialsUserInfo{},
	}
	for _, r := range w.APIRegistrations {
		c.APIRegistrations = append(c.APIRegistrations, CredentialsAPIKey(r))
	}
	for _, o := range w.OAuthClients {
		c.OAuthClients = append(c.OAuthClients, CredentialsOAuth{ClientID: o.ID, ClientSecret: o.Secret, User: o.User})
	}
	for _, u := range w.Users {
		c.Users = append(c.Users, CredentialsUserInfo{Name: u.Name, Password: u.Password, Roles: append([]string{}, u.Roles...)})
	}
	return c
}
