/*
 * Veiviser – chat widget for the intranet.
 *
 * Plain JavaScript, no build step, no external resources. Works under a strict CSP
 * (script-src 'self'; style-src 'self'): the DOM is built with createElement, every piece of
 * user or bot text goes in through textContent / createTextNode (never innerHTML), and no
 * inline styles or handlers are used. State lives in sessionStorage only.
 */
(function () {
  'use strict';

  if (window.__veiviserWidget) {
    return;
  }
  window.__veiviserWidget = true;

  // -- constants --------------------------------------------------------------------------------
  var KEY_TOKEN = 'veiviser.token';
  var KEY_ACCEPTED = 'veiviser.privacyAccepted';
  var KEY_CONVERSATION = 'veiviser.conversation';
  var MAX_STORED_MESSAGES = 200;
  var REQUEST_TIMEOUT_MS = 60000;

  var T = {
    launcher: 'Spør Veiviser',
    dialogLabel: 'Veiviser – spør om exit-arbeid',
    title: 'Veiviser',
    subtitle: 'Svar fra «Veileder for exit-arbeid»',
    close: 'Lukk Veiviser',
    intro: 'Hei! Jeg svarer på spørsmål om exit-arbeid og viser hvor i «Veileder for exit-arbeid» svaret står.',
    privacy: 'Ikke skriv navn, fødselsnummer, telefonnummer eller andre opplysninger som kan ' +
      'identifisere noen. Spørsmålene lagres maskert i 30 dager. Du kan slette samtalen når som helst.',
    privacyHeading: 'Personvern',
    accept: 'Jeg forstår',
    inputLabel: 'Skriv spørsmålet ditt',
    inputHint: 'Enter sender, Shift+Enter gir ny linje. Ikke skriv personopplysninger.',
    inputLocked: 'Les personverninformasjonen og trykk «Jeg forstår» før du skriver.',
    send: 'Send',
    del: 'Slett samtalen',
    you: 'Du skrev:',
    bot: 'Veiviser svarte:',
    typing: 'Veiviser skriver …',
    opensNewTab: '(åpnes i ny fane)',
    feedbackQuestion: 'Var svaret nyttig?',
    feedbackUp: 'Nyttig svar',
    feedbackDown: 'Ikke nyttig svar',
    feedbackThanks: 'Takk for tilbakemeldingen!',
    feedbackFailed: 'Tilbakemeldingen ble ikke lagret. Prøv igjen.',
    suggestionsLabel: 'Forslag',
    deleted: 'Samtalen er slettet.',
    piiIntro: 'Meldingen ser ut til å inneholde ',
    piiOutro: '. Ikke skriv opplysninger som kan identifisere noen. ' +
      'Veiviser maskerer slike opplysninger, men det er tryggest å fjerne dem.',
    piiFnr: 'et fødselsnummer',
    piiPhone: 'et telefonnummer',
    piiEmail: 'en e-postadresse',
    piiAnd: ' og ',
    sendAnyway: 'Send likevel',
    edit: 'Rediger',
    err401: 'Du er ikke logget inn, eller innloggingen har utløpt. Last siden på nytt fra intranettet.',
    err403: 'Forespørselen ble avvist.',
    err413: 'Meldingen er for lang.',
    err429: 'Du har sendt mange meldinger på kort tid. Vent {s} sekunder.',
    err429NoTime: 'Du har sendt mange meldinger på kort tid. Vent litt før du prøver igjen.',
    errNetwork: 'Får ikke kontakt med Veiviser akkurat nå. Prøv igjen om litt.',
    errOther: 'Noe gikk galt med forespørselen. Prøv igjen.'
  };

  // Personal data the user probably should not send (the server masks it anyway).
  var PII_PATTERNS = [
    // fødselsnummer: 11 digits, optionally space/dot/hyphen after the first 6
    { label: T.piiFnr, re: /(?:^|\D)\d{6}[ .-]?\d{5}(?!\d)/ },
    // Norwegian phone number: 8 digits with optional spaces, optional +47 / 0047
    { label: T.piiPhone, re: /(?:^|[^\d+])(?:(?:\+|00)47 ?)?\d(?: ?\d){7}(?!\d)/ },
    // e-mail address
    { label: T.piiEmail, re: /[^\s@<>()"',;:]+@[^\s@<>()"',;:]+\.[a-z]{2,}/i }
  ];

  var URL_LINE = /^https?:\/\/\S+$/i;
  var URL_IN_TEXT = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)»'\]]/gi;
  var SOURCE_LINE = /^Kilde:/;

  // -- storage (sessionStorage only; failures are tolerated) ------------------------------------
  function storageGet(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.sessionStorage.setItem(key, value);
    } catch (e) {
      /* storage full or disabled: the widget still works for this page view */
    }
  }

  function storageRemove(key) {
    try {
      window.sessionStorage.removeItem(key);
    } catch (e) {
      /* ignore */
    }
  }

  // A token handed over in the address (?token=...) is kept for the tab and removed from the URL.
  function captureToken() {
    var url;
    try {
      url = new URL(window.location.href);
    } catch (e) {
      return;
    }
    if (!url.searchParams.has('token')) {
      return;
    }
    var token = url.searchParams.get('token');
    if (token) {
      storageSet(KEY_TOKEN, token);
    }
    url.searchParams.delete('token');
    try {
      window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    } catch (e) {
      /* ignore */
    }
  }

  function loadConversation() {
    var raw = storageGet(KEY_CONVERSATION);
    var empty = { conversation_id: null, messages: [] };
    if (!raw) {
      return empty;
    }
    try {
      var data = JSON.parse(raw);
      if (!data || !Array.isArray(data.messages)) {
        return empty;
      }
      return {
        conversation_id: typeof data.conversation_id === 'string' ? data.conversation_id : null,
        messages: data.messages.filter(function (m) {
          return m && (m.role === 'user' || m.role === 'bot') && typeof m.text === 'string';
        })
      };
    } catch (e) {
      return empty;
    }
  }

  function saveConversation() {
    if (state.messages.length > MAX_STORED_MESSAGES) {
      state.messages = state.messages.slice(-MAX_STORED_MESSAGES);
    }
    storageSet(KEY_CONVERSATION, JSON.stringify({
      conversation_id: state.conversationId,
      messages: state.messages
    }));
  }

  // -- HTTP -------------------------------------------------------------------------------------
  function ApiError(kind, status, retryAfter) {
    this.kind = kind; // 'http' | 'network'
    this.status = status || 0;
    this.retryAfter = retryAfter;
  }

  function parseRetryAfter(value) {
    if (!value) {
      return null;
    }
    var trimmed = String(value).trim();
    if (/^\d+$/.test(trimmed)) {
      return parseInt(trimmed, 10);
    }
    var date = Date.parse(trimmed);
    if (!isNaN(date)) {
      return Math.max(1, Math.ceil((date - Date.now()) / 1000));
    }
    return null;
  }

  function api(method, path, body) {
    var headers = {
      'Accept': 'application/json',
      'Content-Type': 'application/json',
      'X-Veiviser-Client': 'widget'
    };
    var token = storageGet(KEY_TOKEN);
    if (token) {
      headers.Authorization = 'Bearer ' + token;
    }
    var options = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      options.body = JSON.stringify(body);
    }
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = null;
    if (controller) {
      options.signal = controller.signal;
      timer = window.setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    }
    return window.fetch(path, options).then(function (response) {
      if (timer) {
        window.clearTimeout(timer);
      }
      if (!response.ok) {
        throw new ApiError('http', response.status, parseRetryAfter(response.headers.get('Retry-After')));
      }
      return response.json().catch(function () {
        throw new ApiError('network');
      });
    }, function () {
      if (timer) {
        window.clearTimeout(timer);
      }
      throw new ApiError('network');
    });
  }

  function errorText(err) {
    if (!(err instanceof ApiError) || err.kind === 'network') {
      return T.errNetwork;
    }
    switch (err.status) {
      case 401: return T.err401;
      case 403: return T.err403;
      case 413: return T.err413;
      case 429:
        return err.retryAfter !== null && err.retryAfter !== undefined
          ? T.err429.replace('{s}', String(err.retryAfter))
          : T.err429NoTime;
      default:
        return err.status >= 500 ? T.errNetwork : T.errOther;
    }
  }

  // -- DOM helpers ------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (name === 'text') {
          node.textContent = value;
        } else if (name === 'className') {
          node.className = value;
        } else {
          node.setAttribute(name, value === true ? '' : String(value));
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child) {
        node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function srOnly(text) {
    return el('span', { className: 'veiviser-sr-only', text: text });
  }

  function safeHttpUrl(candidate) {
    try {
      var url = new URL(candidate, window.location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(url) {
    var href = safeHttpUrl(url);
    if (!href) {
      return document.createTextNode(url);
    }
    return el('a', {
      href: href,
      target: '_blank',
      rel: 'noopener noreferrer',
      'aria-describedby': 'veiviser-newtab-hint',
      text: url
    });
  }

  // Text with any http(s) URLs turned into links (all as text nodes / anchors, never HTML).
  function appendLinkified(parent, text) {
    var last = 0;
    text.replace(URL_IN_TEXT, function (match, offset) {
      if (offset > last) {
        parent.appendChild(document.createTextNode(text.slice(last, offset)));
      }
      parent.appendChild(link(match));
      last = offset + match.length;
      return match;
    });
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  // Bot text: paragraphs split on blank lines; «Kilde:» lines and the URL line after them become
  // the source block.
  function renderBotText(container, text, citations, type) {
    var lines = String(text).replace(/\r\n?/g, '\n').split('\n');
    var paragraph = [];
    var source = null;
    var hasSource = false;

    function flush() {
      if (paragraph.length) {
        var p = el('p', { className: 'veiviser-text' });
        appendLinkified(p, paragraph.join('\n'));
        container.appendChild(p);
        paragraph = [];
      }
    }

    lines.forEach(function (line) {
      var trimmed = line.trim();
      if (SOURCE_LINE.test(trimmed)) {
        flush();
        source = el('div', { className: 'veiviser-source' }, [
          el('p', { className: 'veiviser-source-line', text: trimmed })
        ]);
        container.appendChild(source);
        hasSource = true;
        return;
      }
      if (URL_LINE.test(trimmed) && safeHttpUrl(trimmed)) {
        flush();
        var holder = el('p', { className: 'veiviser-source-link' }, [link(trimmed)]);
        if (source) {
          source.appendChild(holder);
        } else {
          container.appendChild(holder);
        }
        return;
      }
      if (trimmed === '') {
        flush();
        source = null;
        return;
      }
      source = null;
      paragraph.push(line);
    });
    flush();

    // An answer always shows where it comes from, even if the text did not say so.
    if (type === 'answer' && !hasSource && citations && citations.length && citations[0]) {
      var c = citations[0];
      var path = Array.isArray(c.path) && c.path.length ? c.path : (c.section ? [c.section] : []);
      var edition = c.edition ? ' (utgave: ' + c.edition + ')' : '';
      var block = el('div', { className: 'veiviser-source' }, [
        el('p', { className: 'veiviser-source-line',
          text: 'Kilde: ' + ['Veileder for exit-arbeid'].concat(path).join(' › ') + edition })
      ]);
      if (c.url && safeHttpUrl(c.url)) {
        block.appendChild(el('p', { className: 'veiviser-source-link' }, [link(c.url)]));
      }
      container.appendChild(block);
    }
  }

  function findPii(text) {
    var found = [];
    PII_PATTERNS.forEach(function (p) {
      if (p.re.test(text)) {
        found.push(p.label);
      }
    });
    return found;
  }

  function joinKinds(kinds) {
    if (kinds.length <= 1) {
      return kinds.join('');
    }
    return kinds.slice(0, -1).join(', ') + T.piiAnd + kinds[kinds.length - 1];
  }

  // -- state ------------------------------------------------------------------------------------
  captureToken();

  var stored = loadConversation();
  var state = {
    conversationId: stored.conversation_id,
    messages: stored.messages,
    accepted: storageGet(KEY_ACCEPTED) === '1',
    pending: false,
    open: false
  };

  var ui = {};

  // -- building the widget ----------------------------------------------------------------------
  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'veiviser-icon');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-4.5 3.6A.6.6 0 0 1 3.5 20V17H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  function build() {
    var root = el('div', { id: 'veiviser-root', className: 'veiviser-root' });

    ui.launcher = el('button', {
      type: 'button',
      id: 'veiviser-launcher',
      className: 'veiviser-launcher',
      'aria-controls': 'veiviser-panel',
      'aria-expanded': 'false'
    }, [icon(), el('span', { text: T.launcher })]);

    ui.closeBtn = el('button', {
      type: 'button',
      className: 'veiviser-close',
      'aria-label': T.close
    }, [el('span', { 'aria-hidden': 'true', text: '×' })]);

    var header = el('div', { className: 'veiviser-header' }, [
      el('div', { className: 'veiviser-titles' }, [
        el('h2', { className: 'veiviser-title', id: 'veiviser-title', text: T.title }),
        el('p', { className: 'veiviser-subtitle', text: T.subtitle })
      ]),
      ui.closeBtn
    ]);

    ui.intro = el('p', { className: 'veiviser-intro', text: T.intro });

    ui.accept = el('button', {
      type: 'button',
      id: 'veiviser-accept',
      className: 'veiviser-button veiviser-button-primary',
      text: T.accept
    });
    ui.privacy = el('section', {
      className: 'veiviser-privacy',
      'aria-labelledby': 'veiviser-privacy-heading'
    }, [
      el('h3', { className: 'veiviser-privacy-heading', id: 'veiviser-privacy-heading', text: T.privacyHeading }),
      el('p', { id: 'veiviser-privacy-text', text: T.privacy }),
      ui.accept
    ]);

    ui.log = el('div', {
      id: 'veiviser-log',
      className: 'veiviser-log',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-label': 'Samtale med Veiviser'
    });

    ui.body = el('div', { className: 'veiviser-body' }, [ui.intro, ui.privacy, ui.log]);

    ui.warningSlot = el('div', { className: 'veiviser-warning-slot' });

    ui.input = el('textarea', {
      id: 'veiviser-input',
      className: 'veiviser-input',
      name: 'message',
      rows: '2',
      autocomplete: 'off',
      spellcheck: 'true',
      'aria-describedby': 'veiviser-input-hint'
    });
    ui.hint = el('p', { id: 'veiviser-input-hint', className: 'veiviser-hint', text: T.inputHint });
    ui.send = el('button', {
      type: 'submit',
      id: 'veiviser-send',
      className: 'veiviser-button veiviser-button-primary veiviser-send',
      text: T.send
    });
    ui.form = el('form', { className: 'veiviser-form', novalidate: true }, [
      el('label', { 'for': 'veiviser-input', className: 'veiviser-label', text: T.inputLabel }),
      el('div', { className: 'veiviser-input-row' }, [ui.input, ui.send]),
      ui.hint
    ]);

    ui.del = el('button', {
      type: 'button',
      id: 'veiviser-delete',
      className: 'veiviser-button veiviser-button-quiet veiviser-delete',
      text: T.del
    });
    var footer = el('div', { className: 'veiviser-footer' }, [ui.warningSlot, ui.form, ui.del]);

    ui.panel = el('div', {
      id: 'veiviser-panel',
      className: 'veiviser-panel',
      role: 'dialog',
      'aria-label': T.dialogLabel,
      hidden: true
    }, [header, ui.body, footer, el('span', { id: 'veiviser-newtab-hint', hidden: true, text: T.opensNewTab })]);

    root.appendChild(ui.panel);
    root.appendChild(ui.launcher);
    document.body.appendChild(root);
  }

  // -- rendering --------------------------------------------------------------------------------
  function row(kind, label, content) {
    return el('div', { className: 'veiviser-row veiviser-row-' + kind }, [srOnly(label), content]);
  }

  function renderUser(msg) {
    return row('user', T.you, el('div', { className: 'veiviser-msg veiviser-msg-user', text: msg.text }));
  }

  function renderBot(msg) {
    var box = el('div', {
      className: 'veiviser-msg veiviser-msg-bot veiviser-type-' + (msg.type || 'answer').replace(/[^a-z]/g, '')
    });
    var bubble = el('div', { className: 'veiviser-bubble' });
    renderBotText(bubble, msg.text, msg.citations, msg.type);
    box.appendChild(bubble);

    var choices = [];
    if (Array.isArray(msg.buttons) && msg.buttons.length) {
      msg.buttons.forEach(function (b) {
        if (b && typeof b.title === 'string' && typeof b.payload === 'string') {
          choices.push({ title: b.title, payload: b.payload });
        }
      });
    } else if (Array.isArray(msg.suggestions)) {
      msg.suggestions.forEach(function (s) {
        if (s && typeof s.title === 'string' && s.title) {
          choices.push({ title: s.title, payload: s.title });
        }
      });
    }
    if (choices.length) {
      var list = el('ul', { className: 'veiviser-suggestions', 'aria-label': T.suggestionsLabel });
      choices.forEach(function (choice) {
        var button = el('button', { type: 'button', className: 'veiviser-suggestion', text: choice.title });
        button.addEventListener('click', function () {
          sendMessage(choice.payload, choice.title, false);
        });
        list.appendChild(el('li', null, [button]));
      });
      box.appendChild(list);
    }

    if (msg.type === 'answer' && typeof msg.message_id === 'number' && isFinite(msg.message_id)) {
      box.appendChild(renderFeedback(msg));
    }
    return row('bot', T.bot, box);
  }

  function thanks() {
    return el('p', { className: 'veiviser-feedback-thanks', tabindex: '-1', text: T.feedbackThanks });
  }

  function renderFeedback(msg) {
    var wrap = el('div', { className: 'veiviser-feedback' });
    if (msg.feedback) {
      wrap.appendChild(thanks());
      return wrap;
    }
    var question = el('span', { className: 'veiviser-feedback-question', text: T.feedbackQuestion });
    var up = el('button', {
      type: 'button',
      className: 'veiviser-feedback-button veiviser-feedback-up',
      'aria-label': T.feedbackUp
    }, [el('span', { 'aria-hidden': 'true', text: '👍' })]);
    var down = el('button', {
      type: 'button',
      className: 'veiviser-feedback-button veiviser-feedback-down',
      'aria-label': T.feedbackDown
    }, [el('span', { 'aria-hidden': 'true', text: '👎' })]);
    var status = el('span', { className: 'veiviser-feedback-status' });
    var busy = false;

    function give(value) {
      if (busy) {
        return;
      }
      busy = true;
      up.setAttribute('aria-disabled', 'true');
      down.setAttribute('aria-disabled', 'true');
      status.textContent = '';
      status.className = 'veiviser-feedback-status';
      api('POST', '/api/feedback', { message_id: msg.message_id, value: value }).then(function () {
        msg.feedback = value;
        saveConversation();
        var done = thanks();
        var hadFocus = wrap.contains(document.activeElement);
        while (wrap.firstChild) {
          wrap.removeChild(wrap.firstChild);
        }
        wrap.appendChild(done);
        if (hadFocus) {
          done.focus();
        }
      }, function (err) {
        busy = false;
        up.removeAttribute('aria-disabled');
        down.removeAttribute('aria-disabled');
        status.className = 'veiviser-feedback-status veiviser-error';
        status.textContent = err instanceof ApiError && err.kind === 'http' && err.status !== 400 &&
          err.status < 500 ? errorText(err) : T.feedbackFailed;
      });
    }

    up.addEventListener('click', function () { give(1); });
    down.addEventListener('click', function () { give(-1); });
    wrap.appendChild(question);
    wrap.appendChild(up);
    wrap.appendChild(down);
    wrap.appendChild(status);
    return wrap;
  }

  function renderMessage(msg) {
    var node = msg.role === 'user' ? renderUser(msg) : renderBot(msg);
    ui.log.appendChild(node);
    return node;
  }

  function renderAll() {
    while (ui.log.firstChild) {
      ui.log.removeChild(ui.log.firstChild);
    }
    state.messages.forEach(renderMessage);
    updateChrome();
    scrollToEnd();
  }

  function appendNotice(className, text) {
    var node = el('div', { className: 'veiviser-row veiviser-row-notice' }, [
      el('p', { className: className, text: text })
    ]);
    ui.log.appendChild(node);
    scrollTo(node);
    return node;
  }

  function showError(text) {
    return appendNotice('veiviser-error', text);
  }

  function scrollToEnd() {
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  // Show a new node: its top if it is taller than the view (long answers), else the end.
  function scrollTo(node) {
    var body = ui.body;
    var top = node.offsetTop;
    if (node.offsetHeight > body.clientHeight) {
      body.scrollTop = Math.max(0, top - 8);
    } else {
      scrollToEnd();
    }
  }

  function updateChrome() {
    ui.privacy.hidden = state.accepted;
    ui.intro.hidden = state.messages.length > 0;
    ui.input.disabled = !state.accepted;
    ui.send.disabled = !state.accepted;
    ui.hint.textContent = state.accepted ? T.inputHint : T.inputLocked;
    if (state.pending) {
      ui.send.setAttribute('aria-disabled', 'true');
    } else {
      ui.send.removeAttribute('aria-disabled');
    }
  }

  function autosize() {
    ui.input.style.height = 'auto';
    ui.input.style.height = ui.input.scrollHeight + 'px';
  }

  // -- typing indicator -------------------------------------------------------------------------
  function showTyping() {
    hideTyping();
    ui.typing = el('div', { className: 'veiviser-row veiviser-row-bot' }, [
      el('div', { className: 'veiviser-typing' }, [
        el('span', { className: 'veiviser-typing-text', text: T.typing }),
        el('span', { className: 'veiviser-dots', 'aria-hidden': 'true' }, [
          el('span'), el('span'), el('span')
        ])
      ])
    ]);
    ui.log.appendChild(ui.typing);
    scrollToEnd();
  }

  function hideTyping() {
    if (ui.typing && ui.typing.parentNode) {
      ui.typing.parentNode.removeChild(ui.typing);
    }
    ui.typing = null;
  }

  // -- personal-data warning --------------------------------------------------------------------
  function hideWarning() {
    while (ui.warningSlot.firstChild) {
      ui.warningSlot.removeChild(ui.warningSlot.firstChild);
    }
  }

  function showWarning(text, kinds) {
    hideWarning();
    var anyway = el('button', {
      type: 'button',
      className: 'veiviser-button veiviser-button-secondary veiviser-send-anyway',
      text: T.sendAnyway
    });
    var edit = el('button', {
      type: 'button',
      className: 'veiviser-button veiviser-button-primary veiviser-pii-edit',
      text: T.edit
    });
    var box = el('div', { className: 'veiviser-pii-warning', role: 'alert' }, [
      el('p', { text: T.piiIntro + joinKinds(kinds) + T.piiOutro }),
      el('div', { className: 'veiviser-actions' }, [edit, anyway])
    ]);
    anyway.addEventListener('click', function () {
      hideWarning();
      // Send what is in the box now (the user may have edited it meanwhile).
      var current = ui.input.value.trim() ? ui.input.value : text;
      sendMessage(current, current, true);
      ui.input.focus();
    });
    edit.addEventListener('click', function () {
      hideWarning();
      ui.input.focus();
    });
    ui.warningSlot.appendChild(box);
    edit.focus();
  }

  // -- actions ----------------------------------------------------------------------------------
  function submitTyped(skipCheck) {
    if (!state.accepted) {
      return;
    }
    var text = ui.input.value;
    if (!text.trim()) {
      ui.input.focus();
      return;
    }
    if (state.pending) {
      return;
    }
    if (!skipCheck) {
      var kinds = findPii(text);
      if (kinds.length) {
        showWarning(text, kinds);
        return;
      }
    }
    sendMessage(text, text, true);
  }

  function restoreInput(text) {
    var current = ui.input.value;
    ui.input.value = current.trim() ? text + '\n' + current : text;
    autosize();
  }

  /**
   * Send one message. `text` goes to the server, `shown` into the transcript (a button shows
   * its title but sends its payload); `typed` texts are put back in the box if sending fails.
   */
  function sendMessage(text, shown, typed) {
    if (state.pending || !state.accepted) {
      return;
    }
    hideWarning();
    var userMsg = { role: 'user', text: shown };
    state.messages.push(userMsg);
    saveConversation();
    var userNode = renderMessage(userMsg);
    if (typed) {
      ui.input.value = '';
      autosize();
    }
    state.pending = true;
    updateChrome();
    scrollToEnd();
    showTyping();

    api('POST', '/api/chat', { message: text, conversation_id: state.conversationId }).then(function (data) {
      hideTyping();
      state.pending = false;
      if (!data || typeof data !== 'object') {
        throw new ApiError('network');
      }
      if (typeof data.conversation_id === 'string' && data.conversation_id) {
        state.conversationId = data.conversation_id;
      }
      var botMsg = {
        role: 'bot',
        type: typeof data.type === 'string' ? data.type : 'answer',
        text: typeof data.text === 'string' ? data.text : '',
        citations: Array.isArray(data.citations) ? data.citations : [],
        suggestions: Array.isArray(data.suggestions) ? data.suggestions : [],
        buttons: Array.isArray(data.buttons) ? data.buttons : [],
        message_id: typeof data.message_id === 'number' ? data.message_id : null,
        feedback: null
      };
      state.messages.push(botMsg);
      saveConversation();
      var node = renderMessage(botMsg);
      updateChrome();
      scrollTo(node);
    }).catch(function (err) {
      hideTyping();
      state.pending = false;
      // The message did not get through: take it out of the transcript, give the text back.
      var index = state.messages.indexOf(userMsg);
      if (index !== -1) {
        state.messages.splice(index, 1);
        saveConversation();
      }
      if (userNode.parentNode) {
        userNode.parentNode.removeChild(userNode);
      }
      if (typed) {
        restoreInput(text);
      }
      updateChrome();
      showError(errorText(err));
    });
  }

  function deleteConversation() {
    if (ui.del.getAttribute('aria-disabled') === 'true') {
      return;
    }
    ui.del.setAttribute('aria-disabled', 'true');
    api('DELETE', '/api/conversation').then(function (data) {
      ui.del.removeAttribute('aria-disabled');
      state.messages = [];
      state.conversationId = null;
      storageRemove(KEY_CONVERSATION);
      hideWarning();
      renderAll();
      var text = data && typeof data.text === 'string' && data.text ? data.text : T.deleted;
      appendNotice('veiviser-notice', text);
    }, function (err) {
      ui.del.removeAttribute('aria-disabled');
      showError(errorText(err));
    });
  }

  function accept() {
    state.accepted = true;
    storageSet(KEY_ACCEPTED, '1');
    updateChrome();
    ui.input.focus();
  }

  function openPanel() {
    if (state.open) {
      return;
    }
    state.open = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    document.documentElement.classList.add('veiviser-is-open');
    scrollToEnd();
    autosize();
    (state.accepted ? ui.input : ui.accept).focus();
  }

  function closePanel(returnFocus) {
    if (!state.open) {
      return;
    }
    state.open = false;
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    document.documentElement.classList.remove('veiviser-is-open');
    if (returnFocus) {
      ui.launcher.focus();
    }
  }

  // -- wiring -----------------------------------------------------------------------------------
  function wire() {
    ui.launcher.addEventListener('click', function () {
      if (state.open) {
        closePanel(true);
      } else {
        openPanel();
      }
    });
    ui.closeBtn.addEventListener('click', function () { closePanel(true); });
    ui.panel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' || event.key === 'Esc') {
        event.preventDefault();
        event.stopPropagation();
        closePanel(true);
      }
    });
    ui.accept.addEventListener('click', accept);
    ui.form.addEventListener('submit', function (event) {
      event.preventDefault();
      submitTyped(false);
    });
    ui.input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitTyped(false);
      }
    });
    ui.input.addEventListener('input', function () {
      autosize();
      if (ui.warningSlot.firstChild) {
        hideWarning();
      }
    });
    ui.del.addEventListener('click', deleteConversation);
  }

  function init() {
    if (!document.body) {
      return;
    }
    build();
    wire();
    renderAll();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
