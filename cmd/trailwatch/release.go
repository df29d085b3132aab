package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/trailwatch/trailwatch/internal/logging"
	"github.com/trailwatch/trailwatch/respond"
)

type releaseFlags struct {
	auditFile   string
	region      string
	assumeRole  string
	dryRun      bool
	iamEndpoint string
	ec2Endpoint string
	stsEndpoint string
	logLevel    string
}

func newReleaseCmd() *cobra.Command {
	var f releaseFlags
	cmd := &cobra.Command{
		Use:   "release PRINCIPAL",
		Short: "Undo a quarantine recorded in the audit log",
		Long: `Release finds the active quarantine of PRINCIPAL (the alert's principal key: a user or role ARN, an
instance or ENI id) in the audit file and undoes it: deletes the inline deny policy, reactivates the
access keys the quarantine deactivated and restores the network interfaces' previous security groups.
The release is appended to the audit file and printed as JSON. With --dry-run the calls are printed
and audited but not made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelease(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.auditFile, "audit-file", "", "quarantine audit file (respond.quarantine.audit_file)")
	fl.StringVar(&f.region, "region", "", "AWS region of the EC2 calls (respond.quarantine.region)")
	fl.StringVar(&f.assumeRole, "assume-role", "", `role to assume in other accounts, with "{account}" (respond.quarantine.assume_role)`)
	fl.BoolVar(&f.dryRun, "dry-run", false, "print and audit the calls without making them")
	fl.StringVar(&f.iamEndpoint, "iam-endpoint", "", "IAM endpoint override")
	fl.StringVar(&f.ec2Endpoint, "ec2-endpoint", "", "EC2 endpoint override")
	fl.StringVar(&f.stsEndpoint, "sts-endpoint", "", "STS endpoint override")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	_ = cmd.MarkFlagRequired("audit-file")
	return cmd
}

func runRelease(cmd *cobra.Command, principal string, f *releaseFlags) error {
	log, err := logging.New(f.logLevel, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer log.Sync()
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(f.auditFile); err != nil {
		return fmt.Errorf("release: %w", err) // never create an empty audit log here
	}
	audit, err := respond.OpenAuditLog(f.auditFile)
	if err != nil {
		return err
	}
	defer audit.Close()
	base, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("release: AWS config: %w", err)
	}
	if f.region != "" {
		base.Region = f.region
	}
	clients := respond.NewAccountClients(base, respond.QuarantineConfig{AssumeRole: f.assumeRole,
		IAMEndpoint: f.iamEndpoint, EC2Endpoint: f.ec2Endpoint, STSEndpoint: f.stsEndpoint})
	if _, err := clients.Identify(ctx); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	rec, err := respond.Release(ctx, principal, respond.ReleaseOptions{Audit: audit, Clients: clients, DryRun: f.dryRun, Logger: log})
	if rec != nil {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		_ = enc.Encode(rec)
	}
	return err
}
