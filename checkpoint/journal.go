package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// journal is the record of calls that may be in flight: one 8-byte slot per
// worker in a small file beside the checkpoint (<checkpoint>.inflight),
// mapped into memory. A slot holds the index + 1 of the row whose call its
// worker may have sent and whose answer is not committed yet, or 0.
//
// Setting a slot is one store to shared memory: no system call and no
// SQLite write per call. A shared file mapping survives the process being
// killed (kill -9, OOM), so the next run finds the rows that were in flight;
// like the checkpoint's own commits (WAL, synchronous=NORMAL) it is not
// guaranteed to survive a crash of the machine itself.
type journal struct {
	f     *os.File
	mem   []byte
	slots int
}

const slotSize = 8

// openJournal opens (creating it, 0600) the journal at path and returns the
// rows its slots hold, from whatever run wrote it last.
func openJournal(path string) (*journal, []int, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	j := &journal{f: f}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	var rows []int
	if n := st.Size() / slotSize; n > 0 {
		buf := make([]byte, n*slotSize)
		if _, err := f.ReadAt(buf, 0); err != nil {
			f.Close()
			return nil, nil, err
		}
		for i := 0; i < int(n); i++ {
			if v := binary.NativeEndian.Uint64(buf[i*slotSize:]); v != 0 && v <= 1<<62 {
				rows = append(rows, int(v-1))
			}
		}
	}
	return j, rows, nil
}

// reset empties the journal and sizes it to slots, durably (the rows it held
// have been committed as in doubt before this is called), then maps it.
func (j *journal) reset(slots int) error {
	if slots < 1 {
		slots = 1
	}
	j.unmap()
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	if err := j.f.Truncate(int64(slots * slotSize)); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	mem, err := syscall.Mmap(int(j.f.Fd()), 0, slots*slotSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map %s: %w", j.f.Name(), err)
	}
	j.mem, j.slots = mem, slots
	return nil
}

func (j *journal) slot(i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&j.mem[i*slotSize]))
}

// set records that slot i's worker may send a call for row idx.
func (j *journal) set(i, idx int) { atomic.StoreUint64(j.slot(i), uint64(idx)+1) }

// clear empties slot i.
func (j *journal) clear(i int) { atomic.StoreUint64(j.slot(i), 0) }

// used returns the rows the slots hold now.
func (j *journal) used() []int {
	var rows []int
	for i := 0; i < j.slots; i++ {
		if v := atomic.LoadUint64(j.slot(i)); v != 0 {
			rows = append(rows, int(v-1))
		}
	}
	return rows
}

func (j *journal) unmap() {
	if j.mem != nil {
		_ = syscall.Munmap(j.mem)
		j.mem, j.slots = nil, 0
	}
}

// close unmaps and closes the file; what the slots hold stays in it.
func (j *journal) close() error {
	if j == nil {
		return nil
	}
	j.unmap()
	return j.f.Close()
}

var errNoJournal = errors.New("checkpoint: no attempt has begun (BeginAttempt) on this store")
