package certs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce is how long Watch waits after the last change in the folder
// before reloading, so that a file written in several steps is read whole.
const watchDebounce = 200 * time.Millisecond

// Watch reloads the store whenever its folder changes, debounced by about
// 200ms, and once when it starts (to catch changes made since Open). Each
// reload runs the OnChange callbacks. It returns nil when ctx is done, or an
// error if the folder cannot be watched.
func (s *Store) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("certs: watch %s: %w", s.dir, err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			s.log.Warn("closing folder watcher", "err", err)
		}
	}()
	if err := w.Add(s.dir); err != nil {
		return fmt.Errorf("certs: watch %s: %w", s.dir, err)
	}
	s.log.Debug("watching certificate store")

	reload := func() {
		if err := s.Reload(); err != nil {
			s.log.Error("certificate store reload failed; keeping the previous certificates", "err", err)
		}
	}
	reload()

	timer := time.NewTimer(watchDebounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("certs: folder watcher closed")
			}
			if relevantEvent(ev) {
				timer.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("certs: folder watcher closed")
			}
			// An overflow means events were lost: reload to be sure.
			s.log.Warn("folder watcher error; reloading", "err", err)
			timer.Reset(watchDebounce)
		case <-timer.C:
			reload()
		}
	}
}

// relevantEvent ignores attribute-only changes and the store's own
// temporary files.
func relevantEvent(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	return !strings.HasPrefix(filepath.Base(ev.Name), ".")
}
