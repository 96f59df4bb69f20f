package client

import "time"

// AccessType is the kind of access a release request asks for.
type AccessType string

const (
	AccessView AccessType = "View"
	AccessRDP  AccessType = "RDP"
	AccessSSH  AccessType = "SSH"
	AccessApp  AccessType = "App"
)

// CredentialType selects what GET Credentials returns.
type CredentialType string

const (
	CredentialPassword   CredentialType = "password"
	CredentialDSSKey     CredentialType = "dsskey"
	CredentialPassphrase CredentialType = "passphrase"
)

// ConflictOption tells POST Requests what to do when the same user already
// holds a request for the account. Empty means "answer 409".
type ConflictOption string

const (
	ConflictNone  ConflictOption = ""
	ConflictReuse ConflictOption = "reuse"
	ConflictRenew ConflictOption = "renew"
)

// User is the body of a successful POST Auth/SignAppin.
type User struct {
	UserID       int    `json:"UserId"`
	SID          string `json:"SID"`
	EmailAddress string `json:"EmailAddress"`
	UserName     string `json:"UserName"`
	Name         string `json:"Name"`
}

// RequestInput is the body of POST Requests. For POST Aliases/{id}/Requests
// SystemID, AccountID and ApplicationID are not sent.
type RequestInput struct {
	AccessType             AccessType     `json:"AccessType,omitempty"`
	SystemID               int            `json:"SystemID,omitempty"`
	AccountID              int            `json:"AccountID,omitempty"`
	ApplicationID          *int           `json:"ApplicationID,omitempty"`
	DurationMinutes        int            `json:"DurationMinutes"`
	Reason                 string         `json:"Reason,omitempty"`
	AccessPolicyScheduleID *int           `json:"AccessPolicyScheduleID,omitempty"`
	ConflictOption         ConflictOption `json:"ConflictOption,omitempty"`
	TicketSystemID         *int           `json:"TicketSystemID,omitempty"`
	TicketNumber           string         `json:"TicketNumber,omitempty"`
	RotateOnCheckin        *bool          `json:"RotateOnCheckin,omitempty"`
}

// Request is one element of GET Requests.
type Request struct {
	RequestID          int        `json:"RequestID"`
	SystemID           int        `json:"SystemID"`
	SystemName         string     `json:"SystemName"`
	AccountID          int        `json:"AccountID"`
	AccountName        string     `json:"AccountName"`
	DomainName         string     `json:"DomainName"`
	AliasID            int        `json:"AliasID"`
	ApplicationID      int        `json:"ApplicationID"`
	RequestReleaseDate *time.Time `json:"RequestReleaseDate"`
	ApprovedDate       *time.Time `json:"ApprovedDate"`
	ExpiresDate        *time.Time `json:"ExpiresDate"`
	Status             string     `json:"Status"`
	AccessType         string     `json:"AccessType"`
	Reason             string     `json:"Reason"`
	// Zoneless: a date came without a zone and was read as UTC; the server
	// may have meant its local time (see ParseTime).
	Zoneless bool `json:"-"`
}

// AliasCredential is the body of GET Aliases/{id}/Credentials/{rid}.
type AliasCredential struct {
	AliasID     int    `json:"AliasID"`
	AliasName   string `json:"AliasName"`
	SystemID    int    `json:"SystemID"`
	SystemName  string `json:"SystemName"`
	AccountID   int    `json:"AccountID"`
	AccountName string `json:"AccountName"`
	DomainName  string `json:"DomainName"`
	Password    string `json:"Password"`
	PrivateKey  string `json:"PrivateKey"`
	Passphrase  string `json:"Passphrase"`
}

// ManagedAccount is one element (or the single object) of GET ManagedAccounts.
type ManagedAccount struct {
	PlatformID             int        `json:"PlatformID"`
	SystemID               int        `json:"SystemId"`
	SystemName             string     `json:"SystemName"`
	DomainName             string     `json:"DomainName"`
	AccountID              int        `json:"AccountId"`
	AccountName            string     `json:"AccountName"`
	InstanceName           string     `json:"InstanceName"`
	UserPrincipalName      string     `json:"UserPrincipalName"`
	ApplicationID          *int       `json:"ApplicationID"`
	ApplicationDisplayName string     `json:"ApplicationDisplayName"`
	DefaultReleaseDuration int        `json:"DefaultReleaseDuration"`
	MaximumReleaseDuration int        `json:"MaximumReleaseDuration"`
	LastChangeDate         *time.Time `json:"LastChangeDate"`
	NextChangeDate         *time.Time `json:"NextChangeDate"`
	IsChanging             bool       `json:"IsChanging"`
	ChangeState            int        `json:"ChangeState"`
	IsISAAccess            bool       `json:"IsISAAccess"`
	PreferredNodeID        string     `json:"PreferredNodeID"`
	AccountDescription     string     `json:"AccountDescription"`
}

// ManagedAccountsQuery filters GET ManagedAccounts. Zero values are not sent.
type ManagedAccountsQuery struct {
	SystemName    string
	AccountName   string
	SystemID      int
	WorkgroupName string
	Type          string
	Limit         int
	Offset        int
}

// MappedAccount is one element of Alias.MappedAccounts.
type MappedAccount struct {
	AliasID          int `json:"AliasID"`
	ManagedSystemID  int `json:"ManagedSystemID"`
	ManagedAccountID int `json:"ManagedAccountID"`
	Status           int `json:"Status"`
}

// Alias is the shape of GET Aliases / Aliases/{id} / Aliases?name=.
type Alias struct {
	AliasID                int             `json:"AliasId"`
	AliasName              string          `json:"AliasName"`
	SystemID               int             `json:"SystemId"`
	SystemName             string          `json:"SystemName"`
	AccountID              int             `json:"AccountId"`
	AccountName            string          `json:"AccountName"`
	DomainName             string          `json:"DomainName"`
	InstanceName           string          `json:"InstanceName"`
	DefaultReleaseDuration int             `json:"DefaultReleaseDuration"`
	MaximumReleaseDuration int             `json:"MaximumReleaseDuration"`
	LastChangeDate         *time.Time      `json:"LastChangeDate"`
	NextChangeDate         *time.Time      `json:"NextChangeDate"`
	IsChanging             bool            `json:"IsChanging"`
	ChangeState            int             `json:"ChangeState"`
	MappedAccounts         []MappedAccount `json:"MappedAccounts"`
}

// ManagedSystemsQuery filters GET ManagedSystems. Zero values are not sent.
type ManagedSystemsQuery struct {
	Name   string // the managed system's name
	Type   int    // entity type: EntityAsset, EntityDatabase, EntityDirectory, EntityCloud
	Limit  int
	Offset int
}

// ManagedSystem is one element of GET ManagedSystems (the properties a
// discovery needs; the API sends more).
type ManagedSystem struct {
	ManagedSystemID     int    `json:"ManagedSystemID"`
	EntityTypeID        int    `json:"EntityTypeID"`
	AssetID             *int   `json:"AssetID"`
	DatabaseID          *int   `json:"DatabaseID"`
	DirectoryID         *int   `json:"DirectoryID"`
	CloudID             *int   `json:"CloudID"`
	WorkgroupID         *int   `json:"WorkgroupID"`
	SystemName          string `json:"SystemName"`
	HostName            string `json:"HostName"`
	DnsName             string `json:"DnsName"`
	IPAddress           string `json:"IPAddress"`
	InstanceName        string `json:"InstanceName"`
	ForestName          string `json:"ForestName"`
	NetBiosName         string `json:"NetBiosName"`
	PlatformID          int    `json:"PlatformID"`
	Port                *int   `json:"Port"`
	Description         string `json:"Description"`
	ContactEmail        string `json:"ContactEmail"`
	ReleaseDuration     int    `json:"ReleaseDuration"`
	MaxReleaseDuration  int    `json:"MaxReleaseDuration"`
	ISAReleaseDuration  int    `json:"ISAReleaseDuration"`
	AutoManagementFlag  bool   `json:"AutoManagementFlag"`
	FunctionalAccountID *int   `json:"FunctionalAccountID"`
	IsApplicationHost   bool   `json:"IsApplicationHost"`
	AccessURL           string `json:"AccessURL"`
}
