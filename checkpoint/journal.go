package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"cardbatch/internal/ownfile"
)

// journal is the record of calls that may be in flight: one 8-byte slot per
// worker in a small file beside the checkpoint (<checkpoint>.inflight),
// after a 16-byte header: a magic string and the number of the attempt
// whose workers use the slots. A slot holds the index + 1 of the row whose
// call its worker may have sent and whose answer is not committed yet, or 0;
// numbers are little-endian. The attempt number lets BeginAttempt count a
// dead attempt's rows exactly once, even when that attempt had re-sent rows
// already in doubt from an earlier one.
//
// A slot is set with one positioned write (WriteAt) before the call may
// leave, and cleared the same way once the answer is committed: no SQLite
// transaction per call, and no lock shared between workers, since each
// writes only its own 8 bytes. A write that has returned is in the
// operating system's page cache, which a killed process (kill -9, OOM)
// cannot take back, so the next run finds the rows that were in flight;
// like the checkpoint's own commits (WAL, synchronous=NORMAL) it is not
// guaranteed to survive a crash of the machine itself. The file's blocks are
// written out once by reset, so setting a slot never needs new disk space.
type journal struct {
	f     *os.File
	slots int
}

const (
	slotSize     = 8
	headerSize   = 16
	journalMagic = "cbinfl02"
)

// openJournal opens (creating it, 0600, never through a symbolic link) the
// journal at path and returns the attempt that wrote it last and the rows
// its slots hold. attempt is 0 for an empty file, or one written by a
// version without the header (its slots start at offset 0).
func openJournal(path string) (j *journal, attempt int, rows []int, err error) {
	f, err := ownfile.Open(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, 0, nil, err
	}
	j = &journal{f: f}
	attempt, rows, err = j.read()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return j, attempt, rows, nil
}

// read returns the attempt in the file's header and the rows its slots hold.
func (j *journal) read() (attempt int, rows []int, err error) {
	buf, err := io.ReadAll(io.NewSectionReader(j.f, 0, 1<<40))
	if err != nil {
		return 0, nil, err
	}
	if len(buf) >= headerSize && string(buf[:len(journalMagic)]) == journalMagic {
		a := binary.LittleEndian.Uint64(buf[len(journalMagic):])
		if a > 1<<31 {
			return 0, nil, fmt.Errorf("damaged header (attempt %d): delete the file to go on, counting nothing in doubt", a)
		}
		attempt, buf = int(a), buf[headerSize:]
	}
	for i := 0; i+slotSize <= len(buf); i += slotSize {
		if v := binary.LittleEndian.Uint64(buf[i:]); v != 0 && v <= 1<<62 {
			rows = append(rows, int(v-1))
		}
	}
	return attempt, rows, nil
}

// reset empties the journal for attempt's workers and sizes it to slots,
// durably (the rows it held have been committed as in doubt before this is
// called). The zeros are written, not left as a hole, so the blocks exist
// before the calls begin.
func (j *journal) reset(slots, attempt int) error {
	slots = max(slots, 1)
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	buf := make([]byte, headerSize+slots*slotSize)
	copy(buf, journalMagic)
	binary.LittleEndian.PutUint64(buf[len(journalMagic):], uint64(attempt))
	if _, err := j.f.WriteAt(buf, 0); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	j.slots = slots
	return nil
}

// put writes v into slot i.
func (j *journal) put(i int, v uint64) error {
	if i < 0 || i >= j.slots {
		return fmt.Errorf("checkpoint: journal slot %d out of range (%d slots)", i, j.slots)
	}
	var b [slotSize]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if _, err := j.f.WriteAt(b[:], int64(headerSize+i*slotSize)); err != nil {
		return fmt.Errorf("write in-flight journal %s: %w", j.f.Name(), err)
	}
	return nil
}

// set records that slot i's worker may send a call for row idx.
func (j *journal) set(i, idx int) error { return j.put(i, uint64(idx)+1) }

// clear empties slot i.
func (j *journal) clear(i int) error { return j.put(i, 0) }

// used returns the rows the slots hold now.
func (j *journal) used() ([]int, error) {
	_, rows, err := j.read()
	return rows, err
}

// close closes the file; what the slots hold stays in it.
func (j *journal) close() error {
	if j == nil {
		return nil
	}
	return j.f.Close()
}

var errNoJournal = errors.New("checkpoint: no attempt has begun (BeginAttempt) on this store")
