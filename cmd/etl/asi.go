package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/sources/asi"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// Environment variables the ASI commands read secrets from, so that secrets
// stay out of command lines (which other users of the machine can see).
const (
	envASIClientSecret  = "ASI_CLIENT_SECRET"
	envASIPassword      = "ASI_PASSWORD"
	envASIWebhookSecret = "ASI_WEBHOOK_SECRET"
)

// asiFlags are the settings of commands that call the ASI API: taken from the
// asi source of a pipeline file when one is given, and overridden by flags.
type asiFlags struct {
	baseURL, clientID, clientSecret, tokens, username string
}

func (f *asiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.baseURL, "base-url", "", "API root (default: the pipeline's base_url, else "+asi.DefaultBaseURL+")")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth client id (default: the pipeline's client_id)")
	fs.StringVar(&f.clientSecret, "client-secret", "", "OAuth client secret (default: $"+envASIClientSecret+", else the pipeline's client_secret)")
	fs.StringVar(&f.tokens, "tokens", "", "tokens file (default: the pipeline's tokens)")
	fs.StringVar(&f.username, "username", "", "log in with the password grant as this user; the password comes from $"+envASIPassword+" or stdin")
}

// config returns the asi source config of the pipeline file args[0] (if given)
// with the flags applied. Problems are exit code 2.
func (f *asiFlags) config(cmd *cobra.Command, args []string) (asi.Config, error) {
	cfg, err := pipelineSourceConfig(args, "asi", asi.DefaultConfig(), asi.DecodeConfig)
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
	switch {
	case fl.Changed("client-secret"):
		cfg.ClientSecret = f.clientSecret
	case os.Getenv(envASIClientSecret) != "":
		cfg.ClientSecret = os.Getenv(envASIClientSecret)
	}
	if fl.Changed("tokens") {
		cfg.Tokens = f.tokens
	}
	if fl.Changed("username") {
		cfg.Username = f.username
		pw, err := asiPassword(cmd)
		if err != nil {
			return cfg, err
		}
		cfg.Password = pw
	}
	if cfg.BaseURL == asi.Emulator {
		return cfg, exitWith(exitInvalid, errors.New("base_url is emulator: that emulator lives only as long as a run; start a standing one with `etl emulate asi` and use its URL"))
	}
	return cfg, nil
}

// asiPassword reads the password of --username: $ASI_PASSWORD, else the first
// line of stdin.
func asiPassword(cmd *cobra.Command) (string, error) {
	if pw := os.Getenv(envASIPassword); pw != "" {
		return pw, nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "password (from stdin; set $%s to skip this): ", envASIPassword)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err == nil || err == io.EOF {
			err = errors.New("empty")
		}
		return "", exitWith(exitInvalid, fmt.Errorf("--username: no password (%v): set $%s or give it on stdin", err, envASIPassword))
	}
	return line, nil
}

// asiCheckLoopback refuses addresses other machines can reach: the emulator
// hands out tokens to anyone, and the redirect listener receives codes.
func asiCheckLoopback(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return exitWith(exitInvalid, fmt.Errorf("%s: %w", flag, err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return exitWith(exitInvalid, fmt.Errorf("%s: %s is not a loopback address (use 127.0.0.1 or ::1)", flag, host))
	}
	return nil
}

// asiEmulateFlags are the options and fault knobs of `etl emulate asi`.
type asiEmulateFlags struct {
	addr, tokens string
	opts         asitest.Options
	now          string
	faults       asitest.Faults
}

// newEmulateASICmd returns `asi`, to attach under `etl emulate`.
func newEmulateASICmd() *cobra.Command {
	f := &asiEmulateFlags{opts: asitest.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "asi",
		Short: "Serve the ASI API emulator on a loopback port, with ready credentials",
		Long: `Serve the in-memory ASI API emulator (sources/asi/asitest): managers, athletes,
devices, activities, time frames, permissions, computed and preprocessed data, all
deterministic from a seed, with the OAuth 2.0 server (password, authorization code,
refresh, revoke), webhooks and fault knobs. It prints the OAuth client, the seeded
accounts and a ready access token, and writes a tokens file for manager1 that a
pipeline's tokens option reads. Ctrl-C stops it.`,
		Example: `  etl emulate asi --addr 127.0.0.1:8089 --seed 7 --devices 10 --athletes 10 --rate 10
  etl emulate asi --fail-429-every 5 --retry-after 2s --fail-503-every 7 --drop-every 11 --delay 50ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEmulateASI(cmd, f) },
	}
	fs := cmd.Flags()
	o := &f.opts
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8089", "loopback address to listen on (port 0 picks a free one)")
	fs.StringVar(&f.tokens, "tokens", "asi-tokens.json", "tokens file to write for manager1 (mode 0600; empty: none)")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of every generated value")
	fs.IntVar(&o.Managers, "managers", o.Managers, "seeded managers (manager1 owns every device)")
	fs.IntVar(&o.Athletes, "athletes", o.Athletes, "seeded athletes, each granting manager1 READ and WRITE")
	fs.IntVar(&o.Devices, "devices", o.Devices, "seeded devices (athlete i wears device i)")
	fs.IntVar(&o.Activities, "activities", o.Activities, "seeded activities, one a day")
	fs.DurationVar(&o.Session, "session", o.Session, "length of every activity")
	fs.IntVar(&o.Rate, "rate", o.Rate, "GNSS samples per second per device (1 to 100)")
	fs.DurationVar(&o.TokenLifetime, "token-lifetime", o.TokenLifetime, "lifetime of access tokens (short ones exercise refresh)")
	fs.IntVar(&o.PageLimit, "page-limit", o.PageLimit, "page size of lists without a limit")
	fs.StringVar(&f.now, "now", "", "the simulated clock's start, RFC 3339 (default: 1h after the last activity)")
	fs.IntVar(&f.faults.RateLimitEvery, "fail-429-every", 0, "answer every Nth API request 429 (0: never)")
	fs.DurationVar(&f.faults.RetryAfter, "retry-after", time.Second, "Retry-After of the 429 answers (whole seconds)")
	fs.IntVar(&f.faults.ErrorEvery, "fail-503-every", 0, "answer every Nth API request 503 (0: never)")
	fs.IntVar(&f.faults.DropEvery, "drop-every", 0, "cut the connection half-way through every Nth answer (0: never)")
	fs.DurationVar(&f.faults.Delay, "delay", 0, "hold every API answer this long")
	fs.StringVar(&f.faults.Path, "fault-path", "", "limit the faults to paths containing this")
	return cmd
}

func runEmulateASI(cmd *cobra.Command, f *asiEmulateFlags) error {
	if err := asiCheckLoopback("--addr", f.addr); err != nil {
		return err
	}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return exitWith(exitInvalid, fmt.Errorf("--now: %w", err))
		}
		f.opts.Now = t
	}
	srv, err := asitest.New(f.opts)
	if err != nil {
		return exitWith(exitInvalid, err)
	}
	srv.SetFaults(f.faults)
	if err := srv.Start(f.addr); err != nil {
		return exitWith(exitFailed, err)
	}
	defer srv.Close()
	creds := srv.Credentials()
	tok, _ := srv.IssueToken(creds.Managers[0].Username)
	if f.tokens != "" {
		t := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: "Bearer", Expiry: tok.Expiry}
		if err := asi.WriteTokens(f.tokens, srv.URL(), creds.ClientID, t); err != nil {
			return exitWith(exitFailed, err)
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "ASI emulator at %s (seed %d), simulated clock at %s\n", srv.URL(), f.opts.Seed, srv.Clock.Now().Format(time.RFC3339))
	fmt.Fprintf(out, "  client id      %s\n  client secret  %s\n", creds.ClientID, creds.ClientSecret)
	fmt.Fprintf(out, "  managers       %s", asiLoginList(creds.Managers))
	fmt.Fprintf(out, "  athletes       %s", asiLoginList(creds.Athletes))
	fmt.Fprintf(out, "  access token   %s (manager1, expires %s)\n", tok.AccessToken, tok.Expiry.UTC().Format(time.RFC3339))
	if f.tokens != "" {
		fmt.Fprintf(out, "  tokens         %s (manager1; refreshed and rotated by the source)\n", f.tokens)
	}
	fmt.Fprintf(out, "  data           %d activities of %s, %d devices at %d Hz, time frames from %s\n",
		f.opts.Activities, f.opts.Session, f.opts.Devices, f.opts.Rate, f.opts.Start.Format(time.RFC3339))
	fmt.Fprintf(out, "A pipeline reads it with:\n  source:\n    plugin: asi\n    config: { base_url: %q, client_id: %s, client_secret: ${%s}, tokens: %s }\n",
		srv.URL(), creds.ClientID, envASIClientSecret, asiOrDefault(f.tokens, "<file of etl auth asi>"))
	fmt.Fprintf(out, "with %s=%s. Try: curl -H 'Authorization: Bearer %s' %s/api/v1/timeframes/\n", envASIClientSecret, creds.ClientSecret, tok.AccessToken, srv.URL())
	fmt.Fprintln(out, "Ctrl-C stops it.")

	ctx, stop := signalled(cmd)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the emulator")
	return nil
}

func asiLoginList(ls []asitest.Login) string {
	switch len(ls) {
	case 0:
		return "none\n"
	case 1:
		return fmt.Sprintf("%s (id %d), password %s\n", ls[0].Username, ls[0].ID, ls[0].Password)
	}
	return fmt.Sprintf("%s ... %s (ids %d-%d), password %s\n", ls[0].Username, ls[len(ls)-1].Username, ls[0].ID, ls[len(ls)-1].ID, ls[0].Password)
}

func asiOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// asiAuthFlags are the options of `etl auth asi`.
type asiAuthFlags struct {
	asiFlags
	listen    string
	noBrowser bool
	revoke    bool
	timeout   time.Duration
}

// newAuthASICmd returns `asi`, to attach under `etl auth`.
func newAuthASICmd() *cobra.Command {
	f := &asiAuthFlags{}
	cmd := &cobra.Command{
		Use:   "asi [PIPELINE.yaml]",
		Short: "Log an ASI manager in and store the tokens; or revoke them",
		Long: `Log an ASI user in and write the tokens file (mode 0600, replaced atomically) that
the asi source reads and keeps up to date (it refreshes the access token and writes
the rotated refresh token back).

By default this runs the authorization code flow: it prints (and opens) the
authorize URL, receives the browser's redirect on a loopback port, checks its state,
and exchanges the code. With --username (or a pipeline whose source has username and
password) it uses the password grant instead (the password of --username from
$ASI_PASSWORD or stdin). With --revoke it revokes the tokens of the
file at the service and removes the file.

Settings come from the asi source of PIPELINE.yaml, or from the flags; the client
secret from $ASI_CLIENT_SECRET.`,
		Example: `  etl auth asi pipelines/asi-timeframes.yaml
  ASI_CLIENT_SECRET=... etl auth asi --base-url http://127.0.0.1:8089 --client-id asi-emulator --tokens asi-tokens.json
  ASI_PASSWORD=... etl auth asi pipelines/asi-timeframes.yaml --username manager1
  etl auth asi pipelines/asi-timeframes.yaml --revoke`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuthASI(cmd, f, args) },
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:0", "loopback address of the redirect (the registered redirect URI's host and port, if the service checks it)")
	cmd.Flags().BoolVar(&f.noBrowser, "no-browser", false, "only print the authorize URL")
	cmd.Flags().BoolVar(&f.revoke, "revoke", false, "revoke the tokens of the tokens file and remove it")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	return cmd
}

func runAuthASI(cmd *cobra.Command, f *asiAuthFlags, args []string) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range []struct{ v, what string }{
		{cfg.ClientID, "client_id (--client-id)"},
		{cfg.ClientSecret, "client_secret ($" + envASIClientSecret + ")"},
		{cfg.Tokens, "tokens (--tokens FILE)"},
	} {
		if m.v == "" {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return exitWith(exitInvalid, fmt.Errorf("missing %s: give a pipeline file with an asi source, or the flags", strings.Join(missing, ", ")))
	}
	ctx, stop := signalled(cmd)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	hc := &http.Client{Timeout: cfg.Timeout}
	out := cmd.OutOrStdout()

	if f.revoke {
		tok, err := asi.ReadTokens(cfg.Tokens, cfg.BaseURL, cfg.ClientID)
		if err != nil {
			return exitWith(exitFailed, err)
		}
		// Revoking the refresh token revokes its access token too; an access
		// token alone is revoked when there is no refresh token.
		t, hint := tok.RefreshToken, "refresh_token"
		if t == "" {
			t, hint = tok.AccessToken, "access_token"
		}
		if err := asi.Revoke(ctx, hc, cfg.BaseURL, cfg.ClientID, cfg.ClientSecret, t, hint); err != nil {
			return exitWith(exitFailed, err)
		}
		if err := os.Remove(cfg.Tokens); err != nil {
			return exitWith(exitFailed, fmt.Errorf("revoked, but: %w", err))
		}
		fmt.Fprintf(out, "tokens revoked at %s; %s removed\n", cfg.BaseURL, cfg.Tokens)
		return nil
	}

	if err := asiCheckLoopback("--listen", f.listen); err != nil {
		return err
	}
	conf := asi.OAuthConfig(cfg.BaseURL, cfg.ClientID, cfg.ClientSecret)
	var tok *oauth2.Token
	if cfg.Username != "" {
		tok, err = conf.PasswordCredentialsToken(context.WithValue(ctx, oauth2.HTTPClient, hc), cfg.Username, cfg.Password)
		if err != nil {
			return exitWith(exitFailed, asiLoginError(err))
		}
	} else {
		tok, err = asi.CodeFlow(ctx, conf, hc, f.listen, func(authURL string) error {
			fmt.Fprintf(out, "Open this URL in a browser to log in to ASI and authorize etl:\n%s\n", authURL)
			if !f.noBrowser {
				openBrowser(authURL)
			}
			return nil
		})
		if err != nil {
			return exitWith(exitFailed, err)
		}
	}
	if err := asi.WriteTokens(cfg.Tokens, cfg.BaseURL, cfg.ClientID, tok); err != nil {
		return exitWith(exitFailed, err)
	}
	// Say who logged in, with the tokens just stored.
	c, err := asi.NewClient(asi.ClientOptions{BaseURL: cfg.BaseURL, HTTP: hc, Retries: 2,
		Tokens: asi.NewAuth(asi.AuthOptions{BaseURL: cfg.BaseURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Tokens: cfg.Tokens, HTTP: hc})})
	if err != nil {
		return exitWith(exitFailed, err)
	}
	var me struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	if err := c.Do(ctx, http.MethodGet, cfg.API.Me, nil, nil, &me); err != nil {
		return exitWith(exitFailed, fmt.Errorf("tokens stored in %s, but reading the account failed: %w", cfg.Tokens, err))
	}
	fmt.Fprintf(out, "logged in as %s (%s); tokens stored in %s\n", me.Username, me.Role, cfg.Tokens)
	return nil
}

// asiLoginError keeps the token endpoint's error code and description; the
// request's body, which holds the password, is never part of an error.
func asiLoginError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("login refused: %d %s %s", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
	}
	return fmt.Errorf("login failed: %w", err)
}

// newASICmd returns `etl asi` with its subcommands.
func newASICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "asi",
		Short: "ASI tools: activity webhooks",
	}
	hooks := &cobra.Command{
		Use:   "webhooks",
		Short: "List, add, update or remove the webhooks of an activity",
		Long: `ASI POSTs to an activity's webhooks when the activity or its time frames change,
with the webhook's secret in the X-Asi-Api-Token header and only ids in the body
({"event": "timeframe-updated", "data": {"activity_id": .., "timeframe_id": ..}});
the receiver then exports that time frame (etl run PIPELINE.yaml --unit timeframe/<id>).
Settings come from the asi source of PIPELINE.yaml, or from the flags.`,
	}
	hooks.AddCommand(newASIWebhooksListCmd(), newASIWebhooksAddCmd(), newASIWebhooksUpdateCmd(), newASIWebhooksRemoveCmd())
	cmd.AddCommand(hooks)
	return cmd
}

// asiWebhookFlags are the flags every webhooks command has.
type asiWebhookFlags struct {
	asiFlags
	activity int64
	id       int64
}

func (f *asiWebhookFlags) register(cmd *cobra.Command, id bool) {
	f.asiFlags.register(cmd.Flags())
	cmd.Flags().Int64Var(&f.activity, "activity", 0, "the activity's id (required)")
	cmd.MarkFlagRequired("activity")
	if id {
		cmd.Flags().Int64Var(&f.id, "id", 0, "the webhook's id (required)")
		cmd.MarkFlagRequired("id")
	}
}

// withClient runs do with a client for the flags' settings.
func (f *asiWebhookFlags) withClient(cmd *cobra.Command, args []string, do func(ctx context.Context, c *asi.Client) error) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	c, _, err := asi.NewAPIClient(cfg, nil)
	if err != nil {
		return exitWith(exitInvalid, fmt.Errorf("%w\n(give a pipeline file with an asi source, or --base-url, --client-id and --tokens)", err))
	}
	ctx, stop := signalled(cmd)
	defer stop()
	if err := do(ctx, c); err != nil {
		return exitWith(exitFailed, err)
	}
	return nil
}

func printASIWebhooks(w io.Writer, hooks []asi.Webhook) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tSECRET\tACTIVITY EVENTS\tTIME FRAME EVENTS")
	for _, h := range hooks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%v\n", h.ID, h.URL, h.SecretToken, h.ActivityEvents, h.TimeframesEvents)
	}
	tw.Flush()
}

func newASIWebhooksListCmd() *cobra.Command {
	f := &asiWebhookFlags{}
	cmd := &cobra.Command{
		Use:     "list [PIPELINE.yaml] --activity N",
		Short:   "List an activity's webhooks (secrets masked)",
		Example: "  etl asi webhooks list pipelines/asi-timeframes.yaml --activity 3",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withClient(cmd, args, func(ctx context.Context, c *asi.Client) error {
				hooks, err := c.Webhooks(ctx, f.activity)
				if err != nil {
					return err
				}
				printASIWebhooks(cmd.OutOrStdout(), hooks)
				return nil
			})
		},
	}
	f.register(cmd, false)
	return cmd
}

func newASIWebhooksAddCmd() *cobra.Command {
	f := &asiWebhookFlags{}
	var url, secret string
	var actEvents, tfEvents bool
	cmd := &cobra.Command{
		Use:   "add [PIPELINE.yaml] --activity N --url URL",
		Short: "Add a webhook to an activity",
		Long: `Add a webhook to an activity. The secret the service sends back in the
X-Asi-Api-Token header comes from $ASI_WEBHOOK_SECRET (or --secret, which other
users of the machine can see in the process list).`,
		Example: "  ASI_WEBHOOK_SECRET=56789ABCD etl asi webhooks add pipelines/asi-timeframes.yaml --activity 3 --url https://etl.example/asi",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("secret") {
				secret = os.Getenv(envASIWebhookSecret)
			}
			if secret == "" {
				return exitWith(exitInvalid, fmt.Errorf("no secret: set $%s (or --secret)", envASIWebhookSecret))
			}
			return f.withClient(cmd, args, func(ctx context.Context, c *asi.Client) error {
				h, err := c.AddWebhook(ctx, f.activity, url, secret, actEvents, tfEvents)
				if err != nil {
					return err
				}
				printASIWebhooks(cmd.OutOrStdout(), []asi.Webhook{h})
				return nil
			})
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&url, "url", "", "the receiver's URL (required)")
	cmd.MarkFlagRequired("url")
	cmd.Flags().StringVar(&secret, "secret", "", "the secret token (default: $"+envASIWebhookSecret+")")
	cmd.Flags().BoolVar(&actEvents, "activity-events", true, "call it when the activity changes")
	cmd.Flags().BoolVar(&tfEvents, "timeframes-events", true, "call it when a time frame of the activity changes")
	return cmd
}

func newASIWebhooksUpdateCmd() *cobra.Command {
	f := &asiWebhookFlags{}
	var url, secret string
	var actEvents, tfEvents, fromEnv bool
	cmd := &cobra.Command{
		Use:     "update [PIPELINE.yaml] --activity N --id W [--url URL] [--secret-from-env] [--activity-events=BOOL] [--timeframes-events=BOOL]",
		Short:   "Change a webhook: only the flags given are changed",
		Example: "  etl asi webhooks update pipelines/asi-timeframes.yaml --activity 3 --id 99 --activity-events=false",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch asi.WebhookChanges
			fl := cmd.Flags()
			if fl.Changed("url") {
				ch.URL = &url
			}
			switch {
			case fl.Changed("secret"):
				ch.SecretToken = &secret
			case fromEnv:
				s := os.Getenv(envASIWebhookSecret)
				if s == "" {
					return exitWith(exitInvalid, fmt.Errorf("--secret-from-env: $%s is empty", envASIWebhookSecret))
				}
				ch.SecretToken = &s
			}
			if fl.Changed("activity-events") {
				ch.ActivityEvents = &actEvents
			}
			if fl.Changed("timeframes-events") {
				ch.TimeframesEvents = &tfEvents
			}
			if ch == (asi.WebhookChanges{}) {
				return exitWith(exitInvalid, errors.New("nothing to change: give --url, --secret-from-env, --secret, --activity-events or --timeframes-events"))
			}
			return f.withClient(cmd, args, func(ctx context.Context, c *asi.Client) error {
				h, err := c.UpdateWebhook(ctx, f.activity, f.id, ch)
				if err != nil {
					return err
				}
				printASIWebhooks(cmd.OutOrStdout(), []asi.Webhook{h})
				return nil
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&url, "url", "", "new receiver URL")
	cmd.Flags().BoolVar(&fromEnv, "secret-from-env", false, "set the secret token to $"+envASIWebhookSecret)
	cmd.Flags().StringVar(&secret, "secret", "", "new secret token (visible in the process list; prefer --secret-from-env)")
	cmd.Flags().BoolVar(&actEvents, "activity-events", true, "call it when the activity changes")
	cmd.Flags().BoolVar(&tfEvents, "timeframes-events", true, "call it when a time frame of the activity changes")
	return cmd
}

func newASIWebhooksRemoveCmd() *cobra.Command {
	f := &asiWebhookFlags{}
	cmd := &cobra.Command{
		Use:     "remove [PIPELINE.yaml] --activity N --id W",
		Short:   "Remove a webhook",
		Example: "  etl asi webhooks remove pipelines/asi-timeframes.yaml --activity 3 --id 99",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withClient(cmd, args, func(ctx context.Context, c *asi.Client) error {
				if err := c.RemoveWebhook(ctx, f.activity, f.id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "webhook %d of activity %d removed\n", f.id, f.activity)
				return nil
			})
		},
	}
	f.register(cmd, true)
	return cmd
}
