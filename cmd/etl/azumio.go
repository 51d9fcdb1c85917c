package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// azumioCommands returns the top-level `etl azumio` command (webhook
// subscriptions). `etl emulate azumio` and `etl auth azumio` are
// newEmulateAzumioCmd and newAuthAzumioCmd, attached under emulate and auth.
func azumioCommands() []*cobra.Command {
	return []*cobra.Command{newAzumioCmd()}
}

// azumioFlags are the settings of commands that call the API for the users of a
// tokens file: taken from the azumio source of a pipeline file when one is given,
// and overridden by flags.
type azumioFlags struct {
	baseURL, clientID, clientSecret, tokens string
	users                                   []string
}

func (f *azumioFlags) register(fs *pflag.FlagSet, users bool) {
	fs.StringVar(&f.baseURL, "base-url", "", "API root (default: the pipeline's base_url, else https://api.azumio.com)")
	fs.StringVar(&f.clientID, "client-id", "", "X-Client-ID (default: the pipeline's client_id)")
	fs.StringVar(&f.clientSecret, "client-secret", "", "client secret (default: the pipeline's client_secret)")
	fs.StringVar(&f.tokens, "tokens", "", "tokens file (default: the pipeline's tokens)")
	if users {
		fs.StringSliceVar(&f.users, "user", nil, "only these user ids (repeatable; default: every user of the tokens file)")
	}
}

// config returns the source config of the pipeline file args[0] (if given) with
// the flags applied, checked. Problems are exit code 2.
func (f *azumioFlags) config(cmd *cobra.Command, args []string) (azumio.Config, error) {
	cfg, err := pipelineSourceConfig(args, "azumio", azumio.DefaultConfig(), azumio.DecodeConfig)
	if err != nil {
		return cfg, err
	}
	fl := cmd.Flags()
	if fl.Changed("base-url") {
		cfg.BaseURL = f.baseURL
	}
	if fl.Changed("client-id") {
		cfg.ClientID = f.clientID
	}
	if fl.Changed("client-secret") {
		cfg.ClientSecret = f.clientSecret
	}
	if fl.Changed("tokens") {
		cfg.Tokens = f.tokens
	}
	if cfg.IsEmulator() {
		return cfg, exitWith(exitInvalid, errors.New("base_url is emulator: that emulator lives only as long as a run; start a standing one with `etl emulate azumio` and use its URL"))
	}
	if cfg.Replay != "" {
		return cfg, exitWith(exitInvalid, errors.New("the pipeline replays an archive: there is no API to call"))
	}
	cfg.Archive = "" // commands keep no archive
	if err := cfg.Check(); err != nil {
		return cfg, exitWith(exitInvalid, fmt.Errorf("%w\n(give a pipeline file with an azumio source, or --base-url, --client-id and --tokens)", err))
	}
	return cfg, nil
}

// emulateFlags are the options and fault knobs of `etl emulate azumio`.
type emulateFlags struct {
	addr, tokens                                    string
	opts                                            azumiotest.Options
	fail401, fail429, fail500, fail503, drop, trunc int64
	slow, retryAfter                                int64
	slowDelay, advanceEvery                         time.Duration
	unknownFields                                   bool
	advNew, advEdited, advDeleted                   int
}

// newEmulateAzumioCmd returns `azumio`, to attach under `etl emulate`.
func newEmulateAzumioCmd() *cobra.Command {
	f := &emulateFlags{}
	cmd := &cobra.Command{
		Use:   "azumio",
		Short: "Serve the Azumio API emulator on a loopback port, with a ready tokens file",
		Long: `Serve the in-memory Azumio API emulator (sources/azumio/azumiotest): deterministic
users and check-ins from a seed, the OAuth endpoints, webhook subscriptions, and fault
knobs. It writes a tokens file for its users and prints the source settings that read
it. With --advance-every, the clock moves on periodically and check-ins are added,
edited and deleted (firing webhooks), so that a second run has something new.
Ctrl-C stops it.`,
		Example: `  etl emulate azumio --addr 127.0.0.1:8765 --users 5 --checkins 1000 --seed 7
  etl emulate azumio --fail-429 3 --retry-after 2 --drop 2 --truncate 1 --unknown-fields`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEmulateAzumio(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8765", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&f.tokens, "tokens", "azumio-tokens.json", "tokens file to write for the emulator's users (mode 0600)")
	fs.Int64Var(&f.opts.Seed, "seed", 1, "seed of every value")
	fs.IntVar(&f.opts.Users, "users", 3, "number of users (ids 10001, 10002, ...)")
	fs.IntVar(&f.opts.Checkins, "checkins", 200, "check-ins each user starts with")
	fs.StringSliceVar(&f.opts.Types, "types", azumiotest.DefaultTypes, "check-in types of the data")
	fs.StringVar(&f.opts.UnknownType, "unknown-type", "", "mix in check-ins of this type the contract does not know")
	fs.IntVar(&f.opts.SameModified, "same-modified", 0, "give the first N check-ins of every user one modified instant")
	fs.BoolVar(&f.opts.NoFragments, "no-fragments", false, "serve check-ins without fragments")
	fs.StringVar(&f.opts.ClientID, "client-id", azumiotest.DefaultClientID, "client id that X-Client-ID must carry")
	fs.StringVar(&f.opts.ClientSecret, "client-secret", "emulator-secret", "client secret of the token endpoint")
	fs.DurationVar(&f.opts.TokenTTL, "token-ttl", 0, "lifetime of access tokens on the emulator's clock (0: forever)")
	fs.Int64Var(&f.fail401, "fail-401", 0, "answer the next N API requests 401")
	fs.Int64Var(&f.fail429, "fail-429", 0, "answer the next N API requests 429")
	fs.Int64Var(&f.retryAfter, "retry-after", 1, "Retry-After seconds of the 429 answers")
	fs.Int64Var(&f.fail500, "fail-500", 0, "answer the next N API requests 500")
	fs.Int64Var(&f.fail503, "fail-503", 0, "answer the next N API requests 503")
	fs.Int64Var(&f.drop, "drop", 0, "close the connection of the next N API requests without answering")
	fs.Int64Var(&f.trunc, "truncate", 0, "answer the next N API requests with half of the body")
	fs.Int64Var(&f.slow, "slow", 0, "delay the next N answers by --slow-delay")
	fs.DurationVar(&f.slowDelay, "slow-delay", time.Second, "delay of the --slow answers")
	fs.BoolVar(&f.unknownFields, "unknown-fields", false, "add fields the contract does not document to everything served")
	fs.DurationVar(&f.advanceEvery, "advance-every", 0, "move the clock on this often (0: never), applying --new, --edit and --delete")
	fs.IntVar(&f.advNew, "new", 2, "check-ins added per user at each advance")
	fs.IntVar(&f.advEdited, "edit", 1, "check-ins edited per user at each advance")
	fs.IntVar(&f.advDeleted, "delete", 0, "check-ins deleted per user at each advance")
	return cmd
}

func runEmulateAzumio(cmd *cobra.Command, f *emulateFlags) error {
	if f.opts.Users < 1 || f.opts.Checkins < 0 {
		return exitWith(exitInvalid, errors.New("--users must be at least 1 and --checkins at least 0"))
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return exitWith(exitInvalid, fmt.Errorf("--addr: %w", err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return exitWith(exitInvalid, fmt.Errorf("--addr: %s is not a loopback address; the emulator serves tokens to anyone who asks, so it listens on 127.0.0.1 or ::1 only", host))
	}
	f.opts.NoCheckins = f.opts.Checkins == 0
	srv := azumiotest.New(f.opts)
	srv.Fail401.Store(f.fail401)
	srv.Fail429.Store(f.fail429)
	srv.RetryAfter.Store(f.retryAfter)
	srv.Fail500.Store(f.fail500)
	srv.Fail503.Store(f.fail503)
	srv.Drop.Store(f.drop)
	srv.Truncate.Store(f.trunc)
	srv.Slow.Store(f.slow)
	srv.SlowDelay.Store(int64(f.slowDelay))
	srv.UnknownFields.Store(f.unknownFields)
	if err := srv.Start(f.addr); err != nil {
		return exitWith(exitFailed, err)
	}
	defer srv.Close()
	if err := srv.WriteTokens(f.tokens); err != nil {
		return exitWith(exitFailed, err)
	}
	users := srv.Users()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Azumio emulator at %s\n", srv.URL())
	fmt.Fprintf(out, "  client id      %s\n  client secret  %s\n", srv.ClientID(), srv.ClientSecret())
	fmt.Fprintf(out, "  users          %d (%s ... %s), %d check-ins each, seed %d\n", len(users), users[0], users[len(users)-1], f.opts.Checkins, f.opts.Seed)
	fmt.Fprintf(out, "  tokens         %s\n", f.tokens)
	fmt.Fprintf(out, "A pipeline reads it with:\n  source:\n    plugin: azumio\n    config: { base_url: %q, client_id: %s, client_secret: %s, tokens: %s }\n",
		srv.URL(), srv.ClientID(), srv.ClientSecret(), f.tokens)
	fmt.Fprintln(out, "Ctrl-C stops it.")

	ctx, stop := signalled(cmd)
	defer stop()
	var tick <-chan time.Time
	if f.advanceEvery > 0 {
		t := time.NewTicker(f.advanceEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping the emulator")
			return nil
		case <-tick:
			refs := srv.Advance(f.advanceEvery, azumiotest.Changes{New: f.advNew, Edited: f.advEdited, Deleted: f.advDeleted})
			fmt.Fprintf(out, "%s: clock at %s, %d check-ins changed\n", time.Now().Format(time.TimeOnly), srv.Now().Format(time.RFC3339), len(refs))
		}
	}
}

// authFlags are the options of `etl auth azumio`.
type authFlags struct {
	azumioFlags
	listen    string
	noBrowser bool
	timeout   time.Duration
}

// newAuthAzumioCmd returns `azumio`, to attach under `etl auth`.
func newAuthAzumioCmd() *cobra.Command {
	f := &authFlags{}
	cmd := &cobra.Command{
		Use:   "azumio [PIPELINE.yaml]",
		Short: "Log an Azumio user in through the browser and store the user's token",
		Long: `Run Azumio's browser login (the OAuth authorization-code flow): print (and open)
the login URL, receive the browser's redirect on a loopback port, exchange the code
for the user's token, read the user's id from the profile, and store the token under
that id in the tokens file (created with mode 0600; other users' tokens are kept).
Settings come from the azumio source of PIPELINE.yaml, or from the flags.`,
		Example: `  etl auth azumio pipelines/azumio-nightly.yaml
  etl auth azumio --base-url http://127.0.0.1:8765 --client-id org.organization.example \
    --client-secret emulator-secret --tokens azumio-tokens.json --no-browser`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuthAzumio(cmd, f, args) },
	}
	f.register(cmd.Flags(), false)
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:0", "loopback address of the redirect (the registered redirect URI's host and port, if Azumio checks it)")
	cmd.Flags().BoolVar(&f.noBrowser, "no-browser", false, "only print the login URL")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the login")
	return cmd
}

func runAuthAzumio(cmd *cobra.Command, f *authFlags, args []string) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	if cfg.ClientSecret == "" {
		return exitWith(exitInvalid, errors.New("client_secret: missing (the token endpoint needs it; give --client-secret or set it in the pipeline)"))
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return exitWith(exitInvalid, fmt.Errorf("--listen: %w", err))
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return exitWith(exitInvalid, fmt.Errorf("--listen: %s is not a loopback address", ip))
	}
	redirect := "http://" + ln.Addr().String() + "/callback"
	client, err := azumio.NewClient(cfg, azumio.NewTokens(""))
	if err != nil {
		ln.Close()
		return exitWith(exitInvalid, err)
	}
	defer client.Close()
	var nonce [16]byte
	rand.Read(nonce[:])
	state := hex.EncodeToString(nonce[:])

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	page := make(chan string, 1) // the answer shown in the browser
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res := result{code: q.Get("code")}
		switch {
		case q.Get("state") != state:
			res.err = errors.New("the login answered with another state (a stale or forged redirect); run the command again")
		case q.Get("error") != "":
			res.err = fmt.Errorf("the login was refused: %s %s", q.Get("error"), q.Get("error_description"))
		case res.code == "":
			res.err = errors.New("the login redirect carries no code")
		}
		select {
		case got <- res:
		default:
		}
		msg := "Logging in failed; see the terminal."
		if res.err == nil {
			select {
			case msg = <-page:
			case <-time.After(30 * time.Second):
				msg = "Still finishing; see the terminal."
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>etl</title><p>%s</p>", html.EscapeString(msg))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	authURL := client.AuthCodeURL(redirect, state)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Open this URL in a browser to log the Azumio user in:\n%s\n", authURL)
	if !f.noBrowser {
		openBrowser(authURL)
	}
	ctx, stop := signalled(cmd)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return exitWith(exitFailed, fmt.Errorf("no login within %s: %w", f.timeout, ctx.Err()))
	}
	if res.err != nil {
		return exitWith(exitFailed, res.err)
	}
	finish := func() (string, error) {
		tok, err := client.Exchange(ctx, res.code, redirect)
		if err != nil {
			return "", err
		}
		tmp := azumio.NewTokens("")
		if err := tmp.Put("me", tok); err != nil {
			return "", err
		}
		who, err := azumio.NewClient(cfg, tmp)
		if err != nil {
			return "", err
		}
		defer who.Close()
		id, err := who.UserID(ctx, "me")
		if err != nil {
			return "", fmt.Errorf("reading the user's id: %w", err)
		}
		if err := azumio.NewTokens(cfg.Tokens).Put(id, tok); err != nil {
			return "", err
		}
		return id, nil
	}
	id, err := finish()
	if err != nil {
		page <- "Logging in failed: " + err.Error()
		return exitWith(exitFailed, err)
	}
	page <- fmt.Sprintf("Azumio user %s is logged in for etl. You can close this tab.", id)
	fmt.Fprintf(out, "user %s logged in; token stored in %s (unit user/%s)\n", id, cfg.Tokens, id)
	return nil
}

// newAzumioCmd returns `etl azumio` with its subcommands.
func newAzumioCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "azumio",
		Short: "Azumio tools: webhook subscriptions",
	}
	subs := &cobra.Command{
		Use:   "subscriptions",
		Short: "List, add or remove the webhook subscriptions of the tokens file's users",
		Long: `Azumio POSTs an empty body to a user's subscribed callback URL when one of the user's
check-ins changes; the receiver then runs the pipeline for that user
(etl run PIPELINE.yaml --unit user/<id>). Each user is subscribed with the user's own
token; adding a subscription replaces the user's earlier one.`,
	}
	subs.AddCommand(newSubscriptionsListCmd(), newSubscriptionsAddCmd(), newSubscriptionsRemoveCmd())
	cmd.AddCommand(subs)
	return cmd
}

// forUsers calls do for each user (the --user ones, else every user of the
// tokens file), reporting each failure on stderr and going on; the error says
// how many failed.
func forUsers(cmd *cobra.Command, f *azumioFlags, args []string, do func(ctx context.Context, c *azumio.Client, user string) error) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	tokens, err := azumio.OpenTokens(cfg.Tokens)
	if err != nil {
		return exitWith(exitFailed, err)
	}
	users := f.users
	if len(users) == 0 {
		users = tokens.Users()
	}
	if len(users) == 0 {
		return exitWith(exitFailed, fmt.Errorf("%s holds no users: run `etl auth azumio` first", cfg.Tokens))
	}
	client, err := azumio.NewClient(cfg, tokens)
	if err != nil {
		return exitWith(exitInvalid, err)
	}
	defer client.Close()
	ctx, stop := signalled(cmd)
	defer stop()
	failed := 0
	for _, u := range users {
		if err := do(ctx, client, u); err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "etl: user %s: %v\n", u, strings.TrimPrefix(err.Error(), "azumio: "))
		}
	}
	if failed > 0 {
		return exitWith(exitFailed, fmt.Errorf("%d of %d users failed (listed above)", failed, len(users)))
	}
	return nil
}

func newSubscriptionsListCmd() *cobra.Command {
	f := &azumioFlags{}
	cmd := &cobra.Command{
		Use:   "list [PIPELINE.yaml]",
		Short: "List each user's subscription",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tURL\tTYPES\tCREATED")
			err := forUsers(cmd, f, args, func(ctx context.Context, c *azumio.Client, user string) error {
				subs, err := c.Subscriptions(ctx, user)
				if err != nil {
					return err
				}
				if len(subs) == 0 {
					fmt.Fprintf(tw, "%s\t-\t-\t-\n", user)
				}
				for _, s := range subs {
					types := strings.Join(s.Types, ",")
					if types == "" {
						types = "(all)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", user, s.URL, types, time.UnixMilli(s.Created).UTC().Format(time.RFC3339))
				}
				return nil
			})
			tw.Flush()
			return err
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func newSubscriptionsAddCmd() *cobra.Command {
	f := &azumioFlags{}
	var callback string
	var types []string
	cmd := &cobra.Command{
		Use:     "add [PIPELINE.yaml] --url CALLBACK",
		Short:   "Subscribe each user's check-in changes to a callback URL",
		Example: `  etl azumio subscriptions add pipelines/azumio-nightly.yaml --url https://hooks.example.com/azumio --types steps,sleeptime`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if callback == "" {
				return exitWith(exitInvalid, errors.New("--url: missing (the callback URL Azumio POSTs to)"))
			}
			return forUsers(cmd, f, args, func(ctx context.Context, c *azumio.Client, user string) error {
				if _, err := c.Subscribe(ctx, user, callback, types); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s subscribed: %s\n", user, callback)
				return nil
			})
		},
	}
	f.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&callback, "url", "", "callback URL (the emulator adds user=<id> to its query)")
	cmd.Flags().StringSliceVar(&types, "types", nil, "check-in types to be told about (default: all)")
	return cmd
}

func newSubscriptionsRemoveCmd() *cobra.Command {
	f := &azumioFlags{}
	var callback string
	cmd := &cobra.Command{
		Use:   "remove [PIPELINE.yaml]",
		Short: "Remove each user's subscription",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forUsers(cmd, f, args, func(ctx context.Context, c *azumio.Client, user string) error {
				if err := c.Unsubscribe(ctx, user, callback); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s unsubscribed\n", user)
				return nil
			})
		},
	}
	f.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&callback, "url", "", "remove the subscription only if it is for this callback URL")
	return cmd
}
