package client

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits the API documents for request fields; checked before anything is sent.
const (
	MinDurationMinutes    = 1
	MaxDurationMinutes    = 525600 // one year
	MaxReasonLength       = 1000   // characters, for requests, check-in, approve and deny
	MaxTicketNumberLength = 20
	// MaxNameLength bounds system, account, alias and workgroup names sent
	// as query parameters; real names are far shorter.
	MaxNameLength = 1024
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}

func checkID(field string, id int) error {
	if id <= 0 {
		return invalid("%s must be a positive integer, got %d", field, id)
	}
	return nil
}

func checkOptionalID(field string, id *int) error {
	if id != nil && *id <= 0 {
		return invalid("%s must be a positive integer when set, got %d", field, *id)
	}
	return nil
}

func checkReason(field, s string) error {
	if n := utf8.RuneCountInString(s); n > MaxReasonLength {
		return invalid("%s is %d characters; at most %d are allowed", field, n, MaxReasonLength)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	return nil
}

func checkName(field, s string, required bool) error {
	switch {
	case strings.TrimSpace(s) == "":
		if required || s != "" {
			return invalid("%s must not be empty", field)
		}
	case utf8.RuneCountInString(s) > MaxNameLength:
		return invalid("%s is longer than %d characters", field, MaxNameLength)
	case !utf8.ValidString(s) || hasCtl(s):
		return invalid("%s contains invalid characters", field)
	}
	return nil
}

// normAccessType returns the canonical spelling of an access type ("" stays
// "", which the server takes as View).
func normAccessType(a AccessType) (AccessType, error) {
	for _, v := range [...]AccessType{AccessView, AccessRDP, AccessSSH, AccessApp} {
		if strings.EqualFold(string(a), string(v)) {
			return v, nil
		}
	}
	if a == "" {
		return "", nil
	}
	return "", invalid("AccessType must be one of View, RDP, SSH, App, got %q", capString(string(a), 20))
}

func normConflictOption(o ConflictOption) (ConflictOption, error) {
	switch strings.ToLower(string(o)) {
	case "":
		return ConflictNone, nil
	case "reuse":
		return ConflictReuse, nil
	case "renew":
		return ConflictRenew, nil
	}
	return "", invalid("ConflictOption must be empty, reuse or renew, got %q", capString(string(o), 20))
}

func normCredentialType(t CredentialType) (CredentialType, error) {
	switch strings.ToLower(string(t)) {
	case "":
		return "", nil
	case "password":
		return CredentialPassword, nil
	case "dsskey":
		return CredentialDSSKey, nil
	case "passphrase":
		return CredentialPassphrase, nil
	}
	return "", invalid("credential type must be password, dsskey or passphrase, got %q", capString(string(t), 20))
}

// normRequestInput checks a request body and returns it with enums in their
// canonical spelling. For an alias request the target comes from the alias,
// so SystemID, AccountID and ApplicationID are not checked (nor sent), and
// App access, which needs an application, is refused.
func normRequestInput(in RequestInput, alias bool) (RequestInput, error) {
	var err error
	if in.AccessType, err = normAccessType(in.AccessType); err != nil {
		return in, err
	}
	if in.ConflictOption, err = normConflictOption(in.ConflictOption); err != nil {
		return in, err
	}
	if alias {
		if in.AccessType == AccessApp {
			return in, invalid("AccessType App is not available for alias requests")
		}
	} else {
		if err := checkID("SystemID", in.SystemID); err != nil {
			return in, err
		}
		if err := checkID("AccountID", in.AccountID); err != nil {
			return in, err
		}
		if err := checkOptionalID("ApplicationID", in.ApplicationID); err != nil {
			return in, err
		}
		switch {
		case in.AccessType == AccessApp && in.ApplicationID == nil:
			return in, invalid("ApplicationID is required for AccessType App")
		case in.AccessType != AccessApp && in.ApplicationID != nil:
			return in, invalid("ApplicationID is only valid with AccessType App")
		}
	}
	if in.DurationMinutes < MinDurationMinutes || in.DurationMinutes > MaxDurationMinutes {
		return in, invalid("DurationMinutes must be between %d and %d, got %d", MinDurationMinutes, MaxDurationMinutes, in.DurationMinutes)
	}
	if err := checkReason("Reason", in.Reason); err != nil {
		return in, err
	}
	if err := checkOptionalID("AccessPolicyScheduleID", in.AccessPolicyScheduleID); err != nil {
		return in, err
	}
	if err := checkOptionalID("TicketSystemID", in.TicketSystemID); err != nil {
		return in, err
	}
	if n := utf8.RuneCountInString(in.TicketNumber); n > MaxTicketNumberLength {
		return in, invalid("TicketNumber is %d characters; at most %d are allowed", n, MaxTicketNumberLength)
	}
	if hasCtl(in.TicketNumber) || !utf8.ValidString(in.TicketNumber) {
		return in, invalid("TicketNumber contains invalid characters")
	}
	return in, nil
}
