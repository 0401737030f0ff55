package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"cardbatch/cardnum"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
)

// Estimate is what a run would do, computed without sending anything.
type Estimate struct {
	Rows        int           `json:"rows"`
	Invalid     int           `json:"invalid"`
	Duplicates  int           `json:"duplicates"`
	AlreadyDone int           `json:"already_done"` // distinct cards the checkpoint already answered
	CacheHits   int           `json:"cache_hits"`
	Calls       int           `json:"calls_to_send"` // one per distinct, valid card not answered yet (retries not counted)
	MaxCharged  int           `json:"max_charged_calls"`
	Duration    time.Duration `json:"-"`
	Seconds     float64       `json:"estimated_seconds"` // Calls ÷ rate; 0 when the rate is unlimited
	Price       float64       `json:"price,omitempty"`
	Cost        float64       `json:"estimated_cost,omitempty"` // MaxCharged × Price
	Note        string        `json:"note,omitempty"`
}

// DryRun reads and validates the whole input, dedupes it and consults the
// checkpoint (when Store is set and holds a run of the same input and
// settings), and says what a run would send. It sends nothing and writes
// nothing.
func DryRun(ctx context.Context, cfg Config, price float64) (*Estimate, error) {
	cfg.defaults()
	est := &Estimate{Price: price}
	var done *checkpoint.Bitset
	if cfg.Store != nil {
		run, err := cfg.Store.LoadRun(ctx)
		if err != nil {
			return nil, err
		}
		if run != nil {
			fp, err := FingerprintFile(cfg.InputPath)
			if err != nil {
				return nil, err
			}
			_, sh := SettingsJSON(cfg.Settings)
			if run.InputHash == fp.Hash && run.SettingsHash == sh {
				if done, err = cfg.Store.Done(ctx); err != nil {
					return nil, err
				}
			} else {
				est.Note = "the checkpoint holds a run over another input or settings: a run would need --restart"
			}
		}
	}
	src, err := cfg.OpenSource(ctx)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	seen := make(map[uint64]struct{}, 1024)
	var cacheHasher *cardkey.Hasher
	if cfg.Cache != nil {
		cacheHasher = cardkey.NewHasher(cfg.Cache.Key())
	}
	var macs [][]byte
	// lookup counts the batch's cache hits and the calls for the rest.
	lookup := func() error {
		if len(macs) == 0 {
			return nil
		}
		hits, err := cfg.Cache.GetMany(ctx, macs, cfg.CacheTTL)
		if err != nil {
			return err
		}
		est.CacheHits += len(hits)
		est.Calls += len(macs) - len(hits)
		macs = macs[:0]
		return nil
	}
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		est.Rows++
		digits, verr := validateRow(row, !cfg.NoLuhn)
		if verr != nil {
			est.Invalid++
			continue
		}
		key, _ := cardnum.Key(digits)
		if _, dup := seen[key]; dup {
			est.Duplicates++
			continue
		}
		seen[key] = struct{}{}
		if done.Has(row.Index) {
			est.AlreadyDone++
			continue
		}
		if cacheHasher != nil {
			macs = append(macs, cacheHasher.Sum(cfg.CacheNamespace+"\x00"+digits))
			if len(macs) == cacheBatch {
				if err := lookup(); err != nil {
					return nil, err
				}
			}
			continue
		}
		est.Calls++
	}
	if err := lookup(); err != nil {
		return nil, err
	}
	est.MaxCharged = est.Calls
	if cfg.Rate > 0 {
		est.Duration = time.Duration(float64(est.Calls) / cfg.Rate * float64(time.Second))
		est.Seconds = est.Duration.Seconds()
	}
	est.Cost = float64(est.MaxCharged) * price
	return est, nil
}
