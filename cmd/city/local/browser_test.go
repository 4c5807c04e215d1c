package local_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/secure-smart-city/platform/cmd/city/control"
)

// RequireBrowserEnv makes a missing Chromium a test failure instead of a skip; `make test`
// sets it, as it sets SMARTCITY_REQUIRE_BROKER.
const RequireBrowserEnv = "SMARTCITY_REQUIRE_BROWSER"

var screenshot = flag.Bool("screenshot", false, "write the Control Center's screenshot to docs/control-center.png")

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found on PATH: install it with `make chromium` (Debian package chromium)"
	if os.Getenv(RequireBrowserEnv) == "1" {
		t.Fatal(msg + " (" + RequireBrowserEnv + "=1 requires the browser)")
	}
	t.Skip(msg)
	return ""
}

// TestControlCenterInBrowser drives the Control Center in headless Chromium: sign in, switch
// a street light on, and see the device report it on (its telemetry, through the processor
// into the state table, read back by the page).
func TestControlCenterInBrowser(t *testing.T) {
	bin := chromium(t)
	op, password := testOperator(t)
	devices := 6
	if *screenshot {
		// One device of each class in each district, for a page that shows the whole city.
		devices = 18
	}
	c := startCity(t, devices, nil, []control.Operator{op})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1500),
		chromedp.Flag("disable-gpu", true),
		// Trust exactly the local server certificate, by its public key, and nothing else
		// the CA would sign: the browser still checks the name and validity.
		chromedp.Flag("ignore-certificate-errors-spki-list", c.ServerCert.SPKIHash()),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 100*time.Second)
	defer cancel()

	light := c.Registry.Things()[0].Name
	row := "#dev-" + light

	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL),
		chromedp.WaitVisible(chromedp.CSS("#name")),
	); err != nil {
		t.Fatalf("open the sign-in page: %v", err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/login") {
		t.Fatalf("anonymous visit landed on %q (%v), want the sign-in page", loc, err)
	}
	for i, step := range []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(chromedp.CSS("#name"), op.Name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(row)),
	} {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(sctx, step)
		cancel()
		if err != nil {
			t.Fatalf("sign in, step %d: %v\n%s", i, err, pageHTML(ctx))
		}
	}

	lightState := func() string {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(row+" .light-state")))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(s)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if got := lightState(); got == want || (want == "reported" && (got == "on" || got == "off")) {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("the page did not show %s as %s within %v (shows %q)", light, want, wait, lightState())
	}
	click := func() {
		t.Helper()
		// The view is replaced every 2 s; a click that lands between query and replace is retried.
		var err error
		for range 5 {
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = chromedp.Do(tctx, chromedp.Click(chromedp.CSS(row+" .switch-button:not([disabled])")))
			cancel()
			if err == nil {
				return
			}
		}
		t.Fatalf("click the switch of %s: %v", light, err)
	}

	waitFor("reported")
	if lightState() == "on" {
		// The simulator's light may start on: switch it off first, so "on" is our doing.
		click()
		waitFor("off")
	}
	click()
	waitFor("on")

	// The page lists the command with the audit's outcome and the operator as caller.
	var commands string
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		commands, err = chromedp.Run(tctx, chromedp.Text(chromedp.CSS("#commands")))
		cancel()
		if err == nil && strings.Contains(commands, "operator/"+op.Name) && strings.Contains(commands, "accepted (202)") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(commands, "set-light") || !strings.Contains(commands, "operator/"+op.Name) || !strings.Contains(commands, "accepted (202)") {
		t.Errorf("recent commands do not show the audited set-light by %s:\n%s", op.Name, commands)
	}

	if *screenshot {
		publishBad(ctx, t, c)
		// Let the switch settle (its "Sending" label clears) and the reject be counted.
		time.Sleep(6 * time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		out := filepath.Join(moduleRoot(t), "docs", "control-center.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
}

// pageHTML is the current page's HTML, for failure messages.
func pageHTML(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		return loc + ": " + err.Error()
	}
	return loc + ":\n" + html
}
