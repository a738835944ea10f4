// A knowledge source's page: land where a citation points (#page=N in a document, #t=SECONDS in a recording),
// and seek the player from the transcript.
const fromHash = (name) => {
  const match = new RegExp(`(?:^#|&)${name}=([0-9]+(?:\\.[0-9]+)?)(?:&|$)`).exec(window.location.hash);
  return match ? Number(match[1]) : null;
};

export function landOnPage() {
  const page = fromHash('page');
  if (page !== null) document.getElementById(`page-${Math.floor(page)}`)?.scrollIntoView({ block: 'start' });
}

export function startAt(player) {
  const seconds = fromHash('t');
  if (seconds !== null && player) seek(player, seconds, false);
}

// Seeking before the media's metadata has loaded is lost, so it waits for it.
export function seek(player, seconds, play = true) {
  const go = () => {
    player.currentTime = seconds;
    if (play) player.play().catch(() => {});
  };
  if (player.readyState >= 1) go();
  else player.addEventListener('loadedmetadata', go, { once: true });
}
