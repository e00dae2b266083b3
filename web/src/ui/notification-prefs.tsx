// The notification preferences panel (issue 13.4), opened from the bell: which kinds of
// notification this member wants in the current organization, and which boards are muted.
// Saved preferences apply to the next change on the server, without reconnecting; a muted
// notification is never created, so it does not count as unread either.
import { useEffect, useState } from 'preact/hooks';
import type { BoardInfo, NotificationKind, NotificationPrefs } from '../client';
import { useApp } from './app-state';

const KIND_LABELS: Record<NotificationKind, string> = {
  'card.assigned': 'I am assigned to a card',
  mention: 'Someone mentions me',
  'job.status': 'The status of my job changes',
};

export function NotificationPrefsPanel({ onDone }: { onDone: () => void }) {
  const a = useApp();
  const org = a.org?.id;
  const [prefs, setPrefs] = useState<NotificationPrefs | null>(null);
  const [boards, setBoards] = useState<BoardInfo[]>([]);
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    if (!org) return;
    a.http
      .notificationPrefs(org)
      .then(setPrefs)
      .catch((e) => a.fail(e, 'Notification preferences'));
    a.http
      .boards(org)
      .then(setBoards)
      .catch(() => setBoards([]));
  }, [org]);
  if (!org) return null;
  if (!prefs) return <p class="muted pad">Loading…</p>;
  const toggle = <T,>(list: T[], v: T, on: boolean): T[] => (on ? [...list.filter((x) => x !== v), v] : list.filter((x) => x !== v));
  return (
    <form
      class="notif-prefs pad"
      aria-label="Notification preferences"
      data-testid="notif-prefs"
      onSubmit={async (e) => {
        e.preventDefault();
        setSaving(true);
        try {
          setPrefs(await a.http.setNotificationPrefs(org, { kinds: prefs.kinds, muted_boards: prefs.muted_boards }));
          a.toast('Notification preferences saved', 'info');
          onDone();
        } catch (err) {
          a.fail(err, 'Notification preferences');
        } finally {
          setSaving(false);
        }
      }}
    >
      <fieldset>
        <legend>Notify me when</legend>
        {prefs.available_kinds.map((k) => (
          <label key={k} class="check">
            <input
              type="checkbox"
              name={k}
              checked={prefs.kinds.includes(k)}
              onChange={(e) => setPrefs({ ...prefs, kinds: toggle(prefs.kinds, k, (e.target as HTMLInputElement).checked) })}
            />{' '}
            {KIND_LABELS[k] ?? k}
          </label>
        ))}
      </fieldset>
      {boards.length > 0 && (
        <fieldset>
          <legend>Muted boards</legend>
          {boards.map((b) => (
            <label key={b.id} class="check">
              <input
                type="checkbox"
                aria-label={`Mute ${b.name}`}
                checked={prefs.muted_boards.includes(b.id)}
                onChange={(e) => setPrefs({ ...prefs, muted_boards: toggle(prefs.muted_boards, b.id, (e.target as HTMLInputElement).checked) })}
              />{' '}
              {b.name}
            </label>
          ))}
        </fieldset>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={saving}>
          Save preferences
        </button>
        <button type="button" class="link" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
