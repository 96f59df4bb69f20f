package pstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// CredentialChange is one POST ManagedAccounts/{id}/Credentials/Change the
// simulator took (Inspector.CredentialChanges). It holds no secret: the new
// password is Inspector.Password.
type CredentialChange struct {
	AccountID, SystemID int
	UserName            string // who changed it
	// PasswordGiven: the body named the new password; otherwise the
	// simulator generated a random one, as Password Safe does.
	PasswordGiven bool
	KeyChanged    bool // a PrivateKey was set
	// Queue and UpdateSystem as sent (their defaults, false and true, when
	// absent). The simulator's managed systems are always reachable, so a
	// change is applied at once whatever Queue says (a queued change would
	// answer 204 just the same), and UpdateSystem=false changes the stored
	// credential only, which is all the simulator keeps anyway.
	Queue, UpdateSystem bool
	At                  time.Time
}

const (
	msg4031Change   = "4031 - User does not have permission to change the credentials of this account (Password Safe Account Management, Full control)"
	msgNoAccount    = "Managed Account not found"
	maxCredentialIn = 1 << 16
)

// changeBody is CredentialsChangeModel (additionalProperties: false).
// Credentials is the backwards-compatible name of Password.
type changeBody struct {
	Credentials  *string
	Password     *string
	PublicKey    *string
	PrivateKey   *string
	Passphrase   *string
	Queue        *bool
	UpdateSystem *bool
}

// changeCredentials is POST ManagedAccounts/{id}/Credentials/Change:
// permission (Account Management), the account (404), the body, then the
// change, answered 204.
func (st *state) changeCredentials(c *call) reply {
	var in changeBody
	if len(bytes.TrimSpace(c.body)) > 0 {
		if !isJSON(c.r) {
			return errReply(http.StatusUnsupportedMediaType, msg415)
		}
		dec := json.NewDecoder(bytes.NewReader(c.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			if strings.HasPrefix(err.Error(), "json: unknown field") {
				return errReply(http.StatusBadRequest, "The request body is invalid: unknown field")
			}
			return errReply(http.StatusBadRequest, "The request body is invalid: "+jsonErrText(err))
		}
	}
	if !c.user.AccountManagement {
		return errReply(http.StatusForbidden, msg4031Change)
	}
	a := st.accounts[c.ids[0]]
	if a == nil {
		return errReply(http.StatusNotFound, msgNoAccount)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	password := str(in.Password)
	if password == "" {
		password = str(in.Credentials)
	}
	queue := in.Queue != nil && *in.Queue
	update := in.UpdateSystem == nil || *in.UpdateSystem
	priv, pub, phrase := str(in.PrivateKey), str(in.PublicKey), str(in.Passphrase)
	switch {
	case len(password) > maxCredentialIn || len(priv) > maxCredentialIn || len(pub) > maxCredentialIn || len(phrase) > maxCredentialIn:
		return errReply(http.StatusBadRequest, "A credential is too long")
	case priv != "" && update && pub == "":
		return errReply(http.StatusBadRequest, "PublicKey is required when PrivateKey is given and UpdateSystem is true")
	case phrase != "" && priv == "":
		return errReply(http.StatusBadRequest, "Passphrase is only valid with a PrivateKey")
	}
	ch := CredentialChange{
		AccountID: a.ID, SystemID: a.sys.ID, UserName: c.user.Name,
		PasswordGiven: password != "", KeyChanged: priv != "",
		Queue: queue, UpdateSystem: update, At: c.now,
	}
	if password == "" {
		password = newPassword()
	}
	a.password = password
	if priv != "" {
		a.PrivateKey, a.Passphrase = priv, phrase
	}
	a.lastChange = c.now
	st.changes = append(st.changes, ch)
	return noContent()
}

// CredentialChanges returns the credential changes made through
// POST ManagedAccounts/{id}/Credentials/Change for one account (0: every
// account), oldest first.
func (in Inspector) CredentialChanges(accountID int) []CredentialChange {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CredentialChange
	for _, ch := range s.st.changes {
		if accountID == 0 || ch.AccountID == accountID {
			out = append(out, ch)
		}
	}
	return out
}

// SetAccountManagement grants or takes away a user's Password Safe Account
// Management permission (User.AccountManagement), which changing
// credentials needs. It panics if the world has no such user.
func (e Editor) SetAccountManagement(userName string, granted bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	u := e.s.st.users[strings.ToLower(userName)]
	if u == nil {
		panic("pstest: no user " + userName)
	}
	u.AccountManagement = granted
}
