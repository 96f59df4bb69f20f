package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// A checkout: request an account, read its password, check it in.
func Example() {
	sim := pstest.NewServer(pstest.DemoWorld()) // a real deployment: https://pws.example.com/BeyondTrust/api/public/v3
	defer sim.Close()

	c, err := client.New(client.Config{
		BaseURL: sim.APIURL,
		APIKey:  pstest.DemoAPIKey,
		RunAs:   pstest.DemoUserSvcVault,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer c.SignOut(ctx) //nolint:errcheck // best effort

	acct, err := c.ManagedAccount(ctx, "db-prod-01", "postgres")
	if err != nil {
		log.Fatal(err)
	}
	id, created, err := c.CreateRequest(ctx, client.RequestInput{
		AccessType:      client.AccessView,
		SystemID:        acct.SystemID,
		AccountID:       acct.AccountID,
		DurationMinutes: 30,
		Reason:          "example",
		ConflictOption:  client.ConflictReuse,
	})
	if err != nil {
		log.Fatal(err)
	}
	pw, err := c.Credential(ctx, id, client.CredentialPassword)
	switch {
	case client.IsNotApproved(err):
		fmt.Println("waiting for approval")
		return
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(created, pw == sim.Inspect().Password(acct.AccountID))
	if err := c.Checkin(ctx, id, "done"); err != nil && !client.IsNotFound(err) {
		log.Fatal(err)
	}
	// Output: true true
}
