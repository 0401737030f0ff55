package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/cardapi/sim"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/pipeline"
	"cardbatch/runlock"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// runFlags are the flags of `cardbatch run` (names are part of the contract).
type runFlags struct {
	input, output, column, sheet, checkpoint, summary string
	endpoint, tokenFile, logFormat, encoding          string
	simulate, dryRun, noProgress, noLuhn, restart     bool
	maskOutput, noCache, csvSafe, bom, noBOM, wait    bool
	lang, prefix                                      string
	metricsFile, metricsPush, metricsJob              string
	metricsLabels                                     labelsFlag
	encryptCard, encryptionArray                      bool
	encryptionKey, cpuProfile                         string
	cachePath, cacheURLFile, cacheKeyFile             string
	cacheTTL                                          time.Duration
	price                                             float64
	simFaults                                         string
	simSeed                                           int64
	rate                                              float64
	burst, concurrency, retries                       int
	timeout, retryBase                                time.Duration
	maxCharged                                        int64
	maxWait                                           time.Duration
	shard                                             string
	logLevel                                          string
	progressEvery                                     time.Duration
}

func (a *app) runFlagSet(f *runFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&f.input, "input", "", "input `FILE`: .csv, .tsv, .txt (one card a line) or .xlsx; - reads CSV from stdin (required)")
	fs.StringVar(&f.output, "output", "", "output `FILE`: .csv or .xlsx, written atomically (required)")
	fs.StringVar(&f.column, "column", "", "the card column: header `NAME` or 1-based index (default: detected)")
	fs.StringVar(&f.sheet, "sheet", "", "XLSX sheet `NAME` (default: the first sheet)")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "SQLite checkpoint `FILE` (default <output>.checkpoint.db)")
	fs.StringVar(&f.summary, "summary", "", "billing summary JSON `FILE` (default <output>.summary.json)")
	fs.StringVar(&f.endpoint, "endpoint", cardapi.DefaultEndpoint, "API base `URL`")
	fs.BoolVar(&f.simulate, "simulate", false, "run against the built-in simulator in-process (no token, no network)")
	fs.StringVar(&f.simFaults, "simulate-faults", "", "with --simulate: simulator flags as `k=v,...` (e.g. busy-prob=0.05,429-prob=0.02,latency=20ms)")
	fs.Int64Var(&f.simSeed, "simulate-seed", 1, "with --simulate: the simulator's seed")
	fs.Float64Var(&f.rate, "rate", 20, "requests per second, at most (0 = unlimited)")
	fs.IntVar(&f.burst, "burst", 1, "token bucket burst for --rate")
	fs.IntVar(&f.concurrency, "concurrency", 32, "requests in flight, at most")
	fs.IntVar(&f.retries, "retries", 5, "attempts after the first for retryable failures")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per request")
	fs.DurationVar(&f.retryBase, "retry-base", time.Second, "first retry delay (then doubled, capped at 16×, plus jitter)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "read, validate and count; send nothing; print what the run would cost")
	fs.DurationVar(&f.maxWait, "max-wait", 15*time.Minute, "give up (exit 1, resumable) after `D` of nothing but 429s, 5xx or no connection (0 = never)")
	fs.Int64Var(&f.maxCharged, "max-charged", -1, "stop before the run's charged calls exceed `N` (default unlimited)")
	fs.BoolVar(&f.noProgress, "no-progress", false, "no progress bar (also off when stderr is not a terminal)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log lines on stderr: text or json")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from `FILE` (mode 0600) instead of $ACEDATA_TOKEN")
	fs.BoolVar(&f.noLuhn, "no-luhn", false, "send card numbers that fail the Luhn check anyway")
	fs.BoolVar(&f.restart, "restart", false, "discard the checkpoint's run and start over")
	fs.StringVar(&f.encoding, "encoding", "", "CSV text encoding: utf-8, gb18030, gbk or utf-16 (default: detected)")
	fs.BoolVar(&f.maskOutput, "mask-output", false, "mask the card column in the output (first 6 and last 4 digits)")
	fs.BoolVar(&f.encryptCard, "encrypt-card", false, "send bank_card with the API's field encryption (AES-256-CBC, key wrapped with RSA); needs --encryption-key")
	fs.StringVar(&f.encryptionKey, "encryption-key", "", "the verification center's RSA public key `FILE` (PKCS#1 \"RSA PUBLIC KEY\" PEM) for --encrypt-card")
	fs.BoolVar(&f.encryptionArray, "encryption-array", false, "with --encrypt-card: send `encryption` as an array of one object (the gateway's OpenAPI form)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE` (for go tool pprof)")
	fs.StringVar(&f.cachePath, "cache", "", "answer cache `FILE` shared across runs, or a team cache's postgres://user:pass@host:port/db URL (default: $CARDBATCH_CACHE, else the user's cache folder, cardbatch/answers.db)")
	fs.StringVar(&f.cacheURLFile, "cache-url-file", "", "read the team cache's postgres:// URL from `FILE` (mode 0600), so its password is not on the command line")
	fs.StringVar(&f.cacheKeyFile, "cache-key-file", "", "the HMAC key `FILE` of a PostgreSQL cache, the same on every machine sharing it (or $CARDBATCH_HMAC_KEY)")
	fs.BoolVar(&f.noCache, "no-cache", false, "do not use the answer cache")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", 30*24*time.Hour, "reuse cached answers younger than this (0 disables the cache)")
	fs.StringVar(&f.lang, "lang", "en", "language of the added column names, the Summary sheet, the printed summary and account_type_name: en or zh")
	fs.StringVar(&f.prefix, "prefix", "", "prefix for every added column name (when the input already has a column of that name)")
	fs.BoolVar(&f.bom, "bom", false, "write the CSV output with a UTF-8 BOM (default: when the input had one or was GBK/GB18030/UTF-16)")
	fs.BoolVar(&f.noBOM, "no-bom", false, "never write a UTF-8 BOM in the CSV output")
	fs.BoolVar(&f.csvSafe, "csv-safe", false, "also neutralise formula-like cells of the input's own columns in a CSV output")
	fs.BoolVar(&f.wait, "wait", false, "if another run holds the checkpoint, wait for it instead of exiting 5")
	fs.StringVar(&f.metricsFile, "metrics-file", "", "write Prometheus series to `FILE` (node_exporter's textfile collector), every 15 s and at the end")
	fs.StringVar(&f.metricsPush, "metrics-push", "", "push the same series to a Prometheus Pushgateway at `URL` (every 15 s and at the end)")
	fs.StringVar(&f.metricsJob, "metrics-job", "cardbatch", "the Pushgateway job label")
	f.metricsLabels = labelsFlag{}
	fs.Var(f.metricsLabels, "metrics-label", "a `name=value` label for every series and the Pushgateway's grouping key (repeatable)")
	fs.Float64Var(&f.price, "price", 0, "price of one charged call, for estimated_cost in the summary and the dry run")
	fs.StringVar(&f.shard, "shard", "", "process only shard `K/N` of the input (cards split by their keyed hash; needs $CARDBATCH_HMAC_KEY, the same on every shard; also $CARDBATCH_SHARD); join the shards with cardbatch merge")
	bindLevelFlags(fs, &f.logLevel)
	fs.DurationVar(&f.progressEvery, "progress-every", 10*time.Second, "without a progress bar: a progress log line every `D`")
	return fs
}

// refuseTokenFlag rejects --token before flag parsing, so that its value is
// never echoed in an error message.
func refuseTokenFlag(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && (name == "token" || strings.HasPrefix(name, "token=")) {
			return usageErr("run does not take the API token as a flag (it would be visible in ps and shell history): " +
				"set ACEDATA_TOKEN in the environment, or put it in a file only you can read and pass --token-file FILE")
		}
	}
	return nil
}

func (a *app) cmdRun(ctx context.Context, args []string) int {
	var f runFlags
	fs := a.runFlagSet(&f)
	if err := refuseTokenFlag(args); err != nil {
		fmt.Fprintf(a.stderr, "cardbatch run: %v\n", err)
		return exitUsage
	}
	if code, ok := a.parseFlags(fs, runCommand(), args); !ok {
		return code
	}
	log, err := newLogger(a.stderr, f.logFormat, f.logLevel, a.red.attr)
	if err != nil {
		fmt.Fprintf(a.stderr, "cardbatch run: %v\n", err)
		return exitUsage
	}
	if f.cpuProfile != "" {
		pf, err := os.OpenFile(f.cpuProfile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintf(a.stderr, "cardbatch run: --cpuprofile: %v\n", err)
			return exitUsage
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintf(a.stderr, "cardbatch run: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	code, err := a.run(ctx, &f, log)
	if err != nil {
		msg := a.scrub(err.Error())
		if f.logFormat == "json" {
			log.Error(msg)
		} else {
			fmt.Fprintf(a.stderr, "cardbatch run: %s\n", msg)
		}
	}
	return code
}

func (a *app) run(ctx context.Context, f *runFlags, log *slog.Logger) (int, error) {
	if f.input == "" || f.output == "" {
		return exitUsage, usageErr("--input and --output are required (see cardbatch run -h)")
	}
	if f.lang != "en" && f.lang != "zh" {
		return exitUsage, usageErr("--lang must be en or zh, not %q", f.lang)
	}
	if f.bom && f.noBOM {
		return exitUsage, usageErr("--bom and --no-bom contradict each other: choose one")
	}
	if f.price < 0 || f.cacheTTL < 0 {
		return exitUsage, usageErr("--price and --cache-ttl must not be negative")
	}
	if f.rate < 0 || f.concurrency < 1 || f.retries < 0 || f.timeout <= 0 || f.burst < 1 {
		return exitUsage, usageErr("--rate must be >= 0, --concurrency and --burst >= 1, --retries >= 0, --timeout > 0")
	}
	shard, err := a.runShard(f)
	if err != nil {
		return exitUsage, err
	}
	outExt := strings.ToLower(filepath.Ext(f.output))
	if outExt != ".csv" && outExt != ".xlsx" {
		return exitUsage, usageErr("--output must end in .csv or .xlsx, not %q", filepath.Ext(f.output))
	}
	if f.input != "-" {
		if same, _ := sameFile(f.input, f.output); same {
			return exitUsage, usageErr("--output is the same file as --input: choose another output file (the input is never overwritten)")
		}
	}
	if f.checkpoint == "" {
		f.checkpoint = f.output + ".checkpoint.db"
	}
	if f.summary == "" {
		f.summary = f.output + ".summary.json"
	}
	a.red.keepPaths(f.input, f.output, f.checkpoint, f.summary, f.cachePath, f.metricsFile,
		filepath.Dir(f.input), filepath.Dir(f.output), filepath.Dir(f.checkpoint))

	if (f.encryptionKey != "" || f.encryptionArray) && !f.encryptCard {
		return exitUsage, usageErr("--encryption-key and --encryption-array go with --encrypt-card")
	}
	if f.encryptCard && !f.simulate && f.encryptionKey == "" {
		return exitUsage, usageErr("--encrypt-card needs --encryption-key FILE (the verification center's RSA public key)")
	}

	// The token is needed before anything is read.
	token := ""
	if !f.simulate && !f.dryRun {
		t, err := loadToken(a.getenv, f.tokenFile)
		if err != nil {
			return exitUsage, err
		}
		token = t
		a.red.token = t
	}

	for _, p := range [][2]string{{"--output", f.output}, {"--checkpoint", f.checkpoint}} {
		if err := checkFolder(p[0], p[1]); err != nil && !(f.dryRun && p[0] == "--checkpoint") {
			return exitUsage, err
		}
	}
	if f.maxWait < 0 {
		return exitUsage, usageErr("--max-wait must not be negative (0 = never give up)")
	}
	// A run-owned temporary folder (excelize spills large sheets there; stdin
	// is spooled there). Leftovers of a killed run are cleared next time.
	tmpDir, releaseTmp, err := runTempDir(f.output)
	if err != nil {
		return exitFatal, err
	}
	defer releaseTmp()
	a.red.keepPaths(tmpDir)

	inputPath := f.input
	if f.input == "-" {
		p, err := spoolStdin(a.stdin, tmpDir)
		if err != nil {
			return exitUsage, err
		}
		inputPath = p
	}
	srcOpts := sources.Options{Path: inputPath, Sheet: f.sheet, Column: f.column, Encoding: f.encoding, TmpDir: tmpDir}
	if f.input == "-" {
		srcOpts.Format = "csv"
	}
	// The input is opened once, and checked with the output before any
	// checkpoint, call or output exists.
	in, err := sources.Open(ctx, srcOpts)
	if err != nil {
		return exitUsage, inputErr(err)
	}
	defer in.Close()
	for _, n := range in.Notes() {
		log.Info("input: " + n)
	}
	log.Info("input opened", "file", f.input, "format", in.Format(), "card_column", in.Header()[in.CardColumn()],
		"rows", in.TotalHint())
	if a.panicHook != nil {
		a.panicHook()
	}
	sinkOpts := a.sinkOptions(f, in, inputPath, tmpDir)
	if err := sinks.CheckHeader(in.Header(), f.lang, f.prefix); err != nil {
		return exitUsage, usageErr("%v", err)
	}
	if !f.dryRun {
		if err := sinks.CheckFits(sinkOpts); err != nil {
			return exitUsage, usageErr("%v", err)
		}
	}

	settings := map[string]string{"column": f.column, "sheet": f.sheet, "encoding": f.encoding,
		"luhn": strconv.FormatBool(!f.noLuhn)}
	// Which API answers matters (simulated answers must never mix with real
	// ones); which gateway host of the provider does not, so a run may resume
	// through another --endpoint. The answer cache is kept per endpoint.
	cacheNamespace := f.endpoint
	if f.simulate {
		settings["api"] = fmt.Sprintf("simulator seed %d", f.simSeed)
		cacheNamespace = settings["api"]
	} else {
		settings["api"] = "provider"
	}
	if shard.On() {
		settings[pipeline.ShardSetting] = shard.String()
	}

	// The answer cache shared across runs.
	// With --simulate it is off unless --cache names one: simulated answers
	// must never be served to a run against the real API ($CARDBATCH_CACHE,
	// which names the real answers' cache, does not count).
	var answers *cache.Cache
	cacheAt, err := a.cacheTarget(f)
	if err != nil {
		return exitUsage, err
	}
	if !f.noCache && f.cacheTTL > 0 && (!f.simulate || f.cachePath != "" || f.cacheURLFile != "") {
		var code int
		if answers, code, err = a.openCache(ctx, f, cacheAt); err != nil {
			return code, err
		}
		defer answers.Close()
	}
	var answerCache pipeline.AnswerCache
	if answers != nil {
		answerCache = answers
	}

	if f.dryRun {
		return a.dryRun(ctx, f, inputPath, in, settings, answerCache, cacheNamespace, log)
	}

	// Field encryption: the center's public key. With --simulate a fresh
	// key pair is made so the in-process simulator can decrypt.
	var encKey *rsa.PublicKey
	var simKey *rsa.PrivateKey
	switch {
	case f.encryptCard && f.simulate:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return exitFatal, err
		}
		simKey, encKey = priv, &priv.PublicKey
		log.Info("field encryption on, with a key pair made for the simulator")
	case f.encryptCard:
		k, err := cardapi.LoadRSAPublicKey(f.encryptionKey)
		if err != nil {
			return exitUsage, usageErr("--encryption-key: %v", err)
		}
		encKey = k
	}

	// The API: the real one, or the simulator on a loopback port in-process.
	endpoint := f.endpoint
	if f.simulate {
		srv, addr, err := startSimulator(f.simSeed, f.simFaults, simKey)
		if err != nil {
			return exitUsage, err
		}
		defer srv.Close()
		endpoint = "http://" + addr
		log.Info("using the built-in simulator", "endpoint", endpoint)
	}
	client, err := cardapi.New(cardapi.Config{Endpoint: endpoint, Token: token, Timeout: f.timeout,
		MaxConns: f.concurrency, UserAgent: "cardbatch/" + version, EncryptionKey: encKey, EncryptionArray: f.encryptionArray})
	if err != nil {
		return exitUsage, usageErr("%v", err)
	}
	defer client.Close()

	// One run per checkpoint: the lock is held for the run's whole life and
	// released by the operating system when the process ends, however.
	lock, err := a.lockCheckpoint(ctx, f, log)
	if err != nil {
		return exitCodeOf(err), err
	}
	defer lock.Close()
	store, err := a.openCheckpoint(ctx, f, log)
	if err != nil {
		return exitCodeOf(err), err
	}
	defer store.Close()
	key, err := cardkey.LoadKey(checkpoint.KeyPath(f.checkpoint), true)
	if err != nil {
		return exitFatal, err
	}

	createSink := func() (pipeline.Sink, error) { return sinks.Create(sinkOpts) }

	// First SIGINT/SIGTERM: stop dispatching, finish in-flight calls, flush.
	// Second: stop at once (the checkpoint stays consistent).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	// interruptCode is the exit code of a stop by signal: 130 for SIGINT,
	// 143 for SIGTERM (what Kubernetes and systemd send).
	var interruptCode atomic.Int32
	interruptCode.Store(exitInterrupted)
	if a.signals != nil {
		go func() {
			select {
			case s := <-a.signals:
				if s == syscall.SIGTERM {
					interruptCode.Store(exitTerminated)
				}
			case <-runCtx.Done():
				return
			}
			log.Warn("interrupted: finishing calls in flight and saving the checkpoint (interrupt again to stop at once)")
			close(stop)
			select {
			case <-a.signals:
				log.Warn("interrupted again: stopping now")
				cancel()
			case <-runCtx.Done():
			}
		}()
	}

	var reporter pipeline.Reporter
	if a.stderrIsTerminal && !f.noProgress && log.Enabled(ctx, slog.LevelInfo) {
		reporter = newBarReporter(a.stderr)
	} else {
		reporter = newLogReporter(log, f.progressEvery)
	}

	mx, err := startMetrics(ctx, f, store, log)
	if err != nil {
		return exitUsage, err
	}
	res, err := pipeline.Run(runCtx, pipeline.Config{
		InputPath: inputPath, Source: in, CreateSink: createSink,
		CountRows: func(ctx context.Context) (int, error) { return sources.CountRows(ctx, srcOpts) }, OutputPath: f.output, Store: store, Key: key,
		Caller: client, Settings: settings, Restart: f.restart, Shard: shard,
		Rate: f.rate, Burst: f.burst, Concurrency: f.concurrency, Retries: f.retries,
		RetryBase: f.retryBase, RetryMax: 16 * f.retryBase, Timeout: f.timeout, NoLuhn: f.noLuhn, MaxCharged: f.maxCharged, MaskOutput: f.maskOutput,
		Price: f.price, Cache: answerCache, CacheTTL: f.cacheTTL, CacheNamespace: cacheNamespace,
		Stop: stop, Logger: log, Progress: reporter,
		CheckRow: sinkOpts.FitsRow, MaxWait: maxWaitOf(f.maxWait),
	})
	if err != nil {
		mx.finish(nil, false, log)
		var ue *pipeline.UsageError
		var ie *sources.InputError
		switch {
		case exitCodeOf(damagedRun(f.checkpoint, err)) == exitUsage:
			return exitUsage, damagedRun(f.checkpoint, err)
		case errors.As(err, &ue) || errors.As(err, &ie):
			return exitUsage, err
		case runCtx.Err() != nil:
			// Stopped at once (a second interrupt), for instance while the
			// output was being written: the checkpoint is consistent and
			// any earlier output untouched.
			log.Warn("interrupted: the checkpoint is saved; run the same command again to resume", "checkpoint", f.checkpoint)
			return int(interruptCode.Load()), nil
		}
		return exitFatal, err
	}
	mx.finish(res.Summary, res.Outcome == pipeline.Finished, log)
	if err := sinks.WriteSummaryJSON(f.summary, res.Summary, 0o600); err != nil {
		return exitFatal, fmt.Errorf("write summary: %w", err)
	}
	if !log.Enabled(ctx, slog.LevelWarn) {
		a.resultLine(f, res) // -q: the one line instead of the table
	} else if f.logFormat == "json" {
		// stderr holds only JSON lines: the summary is one record, numbers as numbers.
		log.Info("summary", "outcome", string(res.Outcome), "summary", res.Summary)
	} else {
		fmt.Fprintln(a.stderr)
		_ = sinks.RenderTable(a.stderr, res.Summary, f.lang)
	}
	switch res.Outcome {
	case pipeline.Finished:
		log.Info("done", "output", f.output, "summary", f.summary)
		return exitOK, nil
	case pipeline.FailedRows:
		log.Warn("finished, but some rows have no final answer: run the same command again to retry only those",
			"failed", res.Summary.Failed, "output", f.output)
		return exitFailedRows, nil
	case pipeline.Budget:
		log.Warn("stopped at --max-charged: the remaining rows are marked skipped; run again with a higher cap to continue",
			"max_charged", f.maxCharged, "charged", res.Summary.ChargedCalls, "output", f.output)
		return exitBudget, nil
	case pipeline.Fatal:
		return exitFatal, res.Fatal
	case pipeline.Interrupted:
		log.Warn("interrupted: the checkpoint is saved; run the same command again to resume", "checkpoint", f.checkpoint)
		return int(interruptCode.Load()), nil
	}
	return exitFatal, fmt.Errorf("unexpected outcome %q", res.Outcome)
}

// sinkOptions describes the output of a run over in.
func (a *app) sinkOptions(f *runFlags, in sources.Input, inputPath, tmpDir string) sinks.Options {
	// The output is 0600, or stricter when the input is (it holds the same cards).
	mode := os.FileMode(0o600)
	if st, err := os.Stat(inputPath); err == nil {
		mode &= st.Mode().Perm()
		mode |= 0o400
	}
	o := sinks.Options{Path: f.output, Header: in.Header(), CardColumn: in.CardColumn(), Mode: mode,
		TmpDir: tmpDir, StageDir: tmpDir, Lang: f.lang, Prefix: f.prefix, CSVSafe: f.csvSafe,
		MaskCard: f.maskOutput, InputName: filepath.Base(f.input), Price: f.price, SummaryPath: f.summary}
	if in.Format() == "xlsx" {
		o.InputPath, o.Sheet = inputPath, in.Sheet()
	}
	o.BOM = csvBOM(f.bom, f.noBOM, in)
	o.Delimiter = in.Delimiter()
	return o
}

// inputErr marks input problems as usage errors (exit 2).
func inputErr(err error) error {
	var ie *sources.InputError
	if errors.As(err, &ie) {
		return &exitError{code: exitUsage, err: err}
	}
	return err
}

// loadToken reads the token from --token-file or $ACEDATA_TOKEN. A token
// file readable by others is refused, as ssh refuses such a key.
func loadToken(getenv func(string) string, file string) (string, error) {
	if file != "" {
		st, err := os.Stat(file)
		if err != nil {
			return "", usageErr("--token-file: %v", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", usageErr("--token-file %s is readable by other users (mode %04o): run chmod 600 %s", file, st.Mode().Perm(), file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErr("--token-file: %v", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", usageErr("--token-file %s is empty", file)
		}
		return t, nil
	}
	if t := strings.TrimSpace(getenv("ACEDATA_TOKEN")); t != "" {
		return t, nil
	}
	return "", usageErr("no API token: set ACEDATA_TOKEN (export ACEDATA_TOKEN=...) or pass --token-file FILE " +
		"(a file only you can read); or try --simulate to run against the built-in simulator")
}

// lockCheckpoint takes the checkpoint's run lock: at once, or with --wait
// once the run holding it ends. A held lock is exit 5 and names its holder.
func (a *app) lockCheckpoint(ctx context.Context, f *runFlags, log *slog.Logger) (*runlock.Lock, error) {
	path, me := checkpoint.LockPath(f.checkpoint), runlock.Me(time.Now())
	lock, err := runlock.Acquire(path, me)
	var held *runlock.HeldError
	if !errors.As(err, &held) {
		return lock, err
	}
	if !f.wait {
		return nil, &exitError{code: exitLocked, err: fmt.Errorf("%w; this run stops without sending anything "+
			"(run it again once that run has ended, or add --wait to wait for it)", err)}
	}
	log.Info("another run holds the checkpoint: waiting for it to end", "holder", held.Holder.String())
	return runlock.AcquireWait(ctx, path, me, time.Second)
}

// runTempDir returns a fresh temporary folder beside the output, holding
// its own lock for the run's life, after removing what earlier runs that
// no longer run left there. release removes the folder.
func runTempDir(output string) (dir string, release func(), err error) {
	parent := filepath.Dir(output)
	base := "." + filepath.Base(output) + ".cardbatch-tmp"
	matches, _ := filepath.Glob(filepath.Join(parent, base+"-*"))
	for _, m := range matches {
		if held, _, err := runlock.Probe(filepath.Join(m, "lock")); err == nil && !held {
			os.RemoveAll(m)
		}
	}
	d, err := os.MkdirTemp(parent, base+"-*")
	if err != nil {
		return "", nil, fmt.Errorf("create temporary folder: %w", err)
	}
	lock, err := runlock.Acquire(filepath.Join(d, "lock"), runlock.Me(time.Now()))
	if err != nil {
		os.RemoveAll(d)
		return "", nil, fmt.Errorf("create temporary folder: %w", err)
	}
	return d, func() { lock.Close(); os.RemoveAll(d) }, nil
}

// spoolStdin copies standard input to a 0600 file so it can be read twice
// and fingerprinted for resume.
func spoolStdin(r io.Reader, dir string) (string, error) {
	f, err := os.OpenFile(filepath.Join(dir, "stdin.csv"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return f.Name(), f.Close()
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		absA, _ := filepath.Abs(a)
		absB, _ := filepath.Abs(b)
		return absA == absB, nil
	}
	return os.SameFile(sa, sb), nil
}

// startSimulator serves the simulator on a loopback port in-process.
func startSimulator(seed int64, faults string, key *rsa.PrivateKey) (*http.Server, string, error) {
	cfg := sim.Config{Seed: seed}
	fs := flag.NewFlagSet("simulate-faults", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sim.BindFlags(fs, &cfg) // defaults come from cfg, so the seed stays unless overridden
	var args []string
	for _, kv := range strings.Split(faults, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			args = append(args, "--"+kv)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", usageErr("--simulate-faults: %v", err)
	}
	if err := cfg.LoadKeys(); err != nil {
		return nil, "", usageErr("--simulate-faults: %v", err)
	}
	if key != nil {
		cfg.DecryptionKey = key
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", usageErr("--simulate-faults: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: sim.New(cfg), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, ln.Addr().String(), nil
}
