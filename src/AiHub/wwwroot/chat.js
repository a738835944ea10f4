// The chat page: Enter sends (Shift+Enter keeps a new line), and the message list follows the newest text.
window.aihubChat = {
  scrollToEnd(element) {
    if (element) element.scrollTop = element.scrollHeight;
  },
};

document.addEventListener('keydown', (e) => {
  const box = e.target;
  if (!(box instanceof HTMLTextAreaElement) || !box.hasAttribute('data-send-on-enter')) return;
  if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
  e.preventDefault();
  box.closest('[data-chat-composer]')?.querySelector('[data-chat-send]')?.click();
});
