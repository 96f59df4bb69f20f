package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// MaxCredentialLength bounds a password, key or passphrase sent to
// ChangeCredentials (the API documents no limit; this only keeps a mistake,
// a file instead of a password, from being sent).
const MaxCredentialLength = 16384

// ChangeCredentialsInput is the body of
// POST ManagedAccounts/{id}/Credentials/Change ("Change managed account
// credentials", CredentialsChangeModel). Every field is optional. Its
// String and GoString never print the secrets.
type ChangeCredentialsInput struct {
	// Password is the new password; empty lets Password Safe generate a new
	// random one (the API's default).
	Password string
	// PublicKey, PrivateKey and Passphrase change a DSS key: PublicKey is
	// required with PrivateKey when the system is updated; Passphrase is
	// for an encrypted PrivateKey.
	PublicKey, PrivateKey, Passphrase string
	// Queue queues the change when the managed system is unreachable,
	// instead of failing (the API's default: false).
	Queue bool
	// UpdateSystem changes the credential on the managed system as well as
	// in Password Safe; nil is the API's default, true. False changes only
	// what Password Safe stores (for a credential already changed on the
	// system by other means).
	UpdateSystem *bool
}

func (in ChangeCredentialsInput) String() string {
	us := "default"
	if in.UpdateSystem != nil {
		us = strconv.FormatBool(*in.UpdateSystem)
	}
	return "ChangeCredentialsInput{Password set: " + strconv.FormatBool(in.Password != "") +
		", PrivateKey set: " + strconv.FormatBool(in.PrivateKey != "") +
		", Queue: " + strconv.FormatBool(in.Queue) + ", UpdateSystem: " + us + "}"
}

// GoString keeps %#v from printing secrets too.
func (in ChangeCredentialsInput) GoString() string { return in.String() }

// changeBody is the wire shape; Queue and UpdateSystem are always sent, so
// the request says what was meant whatever the server's defaults become.
type changeBody struct {
	Password     string `json:"Password,omitempty"`
	PublicKey    string `json:"PublicKey,omitempty"`
	PrivateKey   string `json:"PrivateKey,omitempty"`
	Passphrase   string `json:"Passphrase,omitempty"`
	Queue        bool   `json:"Queue"`
	UpdateSystem bool   `json:"UpdateSystem"`
}

func checkSecretField(field, s string) error {
	switch {
	case len(s) > MaxCredentialLength:
		return invalid("%s is longer than %d bytes", field, MaxCredentialLength)
	case !utf8.ValidString(s):
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r == 0 {
			return invalid("%s contains a NUL character", field)
		}
	}
	return nil
}

// ChangeCredentials is POST ManagedAccounts/{accountID}/Credentials/Change:
// Password Safe changes the account's credential (a new random password
// unless in.Password is set) and, unless in.UpdateSystem is false, on the
// managed system too. It answers 204. The reference requires the
// "Password Safe Account Management (Full control)" permission; without it
// the answer is 403 (IsForbidden), and 404 for an account it does not know.
//
// A lost answer is not repeated: a repeat would change the credential a
// second time. The error then wraps ErrOutcomeUnknown (OutcomeOf says
// OutcomeUnknown): the credential may or may not have changed. The new
// password never appears in an error.
func (c *Client) ChangeCredentials(ctx context.Context, accountID int, in ChangeCredentialsInput) error {
	if err := checkID("account ID", accountID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"Password", in.Password}, {"PublicKey", in.PublicKey}, {"PrivateKey", in.PrivateKey}, {"Passphrase", in.Passphrase},
	} {
		if err := checkSecretField(f.name, f.v); err != nil {
			return err
		}
	}
	update := in.UpdateSystem == nil || *in.UpdateSystem
	if in.PrivateKey != "" && update && in.PublicKey == "" {
		return invalid("PublicKey is required with PrivateKey when UpdateSystem is true")
	}
	if in.Passphrase != "" && in.PrivateKey == "" {
		return invalid("Passphrase is only for a PrivateKey")
	}
	body, err := json.Marshal(&changeBody{
		Password: in.Password, PublicKey: in.PublicKey, PrivateKey: in.PrivateKey, Passphrase: in.Passphrase,
		Queue: in.Queue, UpdateSystem: update,
	})
	if err != nil {
		return invalid("encoding the request: %v", err)
	}
	res, err := c.do(ctx, &call{
		op: opChangeCreds, method: http.MethodPost,
		path: "ManagedAccounts/" + strconv.Itoa(accountID) + "/Credentials/Change",
		body: body, session: true, retry: retryUnsent,
		secrets: secretList(in.Password, in.PrivateKey, in.Passphrase),
	})
	res.free()
	return err
}
