/* TPR assistant chat widget. No framework, no build step: plain DOM, small for slow links.
   Bot text is never assigned to innerHTML: it is parsed into DOM nodes (text nodes plus a
   whitelist of elements), so names from uploaded files always show as text. */
(function () {
  "use strict";

  var WEBHOOK = "webhooks/rest/webhook";
  var UPLOAD = "api/upload";
  var HEALTH = "api/health";
  var HISTORY_LIMIT = 300;
  var uploadMaxBytes = 60 * 1024 * 1024;
  var boundaryMaxBytes = 120 * 1024 * 1024;  // ward boundary files (GET /api/health says)

  var $ = function (id) { return document.getElementById(id); };
  var log = $("log"), typing = $("typing"), notice = $("notice"), noticeText = $("notice-text"),
      noticeRetry = $("notice-retry"), form = $("composer"), input = $("message"),
      sendButton = $("send"), fileInput = $("file-input"), uploadButton = $("upload-button"),
      progressBox = $("upload-progress"), progressBar = $("progress-bar"),
      progressText = $("progress-text"), cancelButton = $("upload-cancel"),
      dropOverlay = $("drop-overlay");

  var busy = false;          // one message in flight at a time
  var currentXhr = null;     // the upload in progress
  var retryAction = null;    // what the Retry button does (set once per failure)

  // --- storage ------------------------------------------------------------------------------
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* full */ } }
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var sender = load("tpr.sender");
  if (!sender || !/^[A-Za-z0-9_.:@-]{1,128}$/.test(sender)) { sender = newId(); store("tpr.sender", sender); }
  function historyKey() { return "tpr.history." + sender; }
  function readHistory() {
    try { return JSON.parse(load(historyKey()) || "[]"); } catch (e) { return []; }
  }
  var history = readHistory();
  function remember(entry) {
    history.push(entry);
    if (history.length > HISTORY_LIMIT) history = history.slice(-HISTORY_LIMIT);
    store(historyKey(), JSON.stringify(history));
  }

  // --- safe rendering -------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function safeUrl(href) {
    try {
      var url = new URL(href, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) { return null; }
  }

  var INLINE = /\*\*([^*]+?)\*\*|__([^_]+?)__|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+|\/api\/download\/[A-Za-z0-9_-]+)/g;

  function appendInline(parent, text) {
    var last = 0, match, re = new RegExp(INLINE.source, "g");  // own state: recursion-safe
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1] != null || match[2] != null) {
        var strong = el("strong"); appendInline(strong, match[1] != null ? match[1] : match[2]);
        parent.appendChild(strong);
      } else if (match[3] != null) {
        parent.appendChild(el("code", null, match[3]));
      } else if (match[4] != null) {
        parent.appendChild(link(match[4], match[5]));
      } else if (match[6] != null) {
        // Bare download links carry a long token: show a short, readable label instead.
        parent.appendChild(link(/\/api\/download\//.test(match[6]) ? "download" : match[6], match[6]));
      }
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function link(label, href) {
    var url = safeUrl(href);
    if (!url) return document.createTextNode(label);
    var a = el("a", null, label);
    a.href = url;
    if (/\/api\/download\//.test(url)) a.setAttribute("download", "");
    else { a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return a;
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(function (c) { return c.trim(); });
  }

  function renderMarkdown(text) {
    var frag = document.createDocumentFragment();
    var lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    var i = 0, para = null;
    function endPara() { para = null; }
    while (i < lines.length) {
      var line = lines[i];
      if (/^\s*\|.*\|\s*$/.test(line)) {
        endPara();
        var rows = [];
        while (i < lines.length && /^\s*\|.*\|\s*$/.test(lines[i])) rows.push(lines[i++]);
        var wrap = el("div", "table-wrap"), table = el("table");
        var hasHead = rows.length > 1 && /^\s*\|?\s*:?-{2,}/.test(rows[1]);
        rows.forEach(function (row, index) {
          if (hasHead && index === 1) return;
          var tr = el("tr"), head = hasHead && index === 0;
          cells(row).forEach(function (c) { var td = el(head ? "th" : "td"); appendInline(td, c); tr.appendChild(td); });
          table.appendChild(tr);
        });
        wrap.appendChild(table); frag.appendChild(wrap);
        continue;
      }
      var bullet = /^\s*(?:[-*\u2022])\s+(.*)$/.exec(line), numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        endPara();
        var list = el(bullet ? "ul" : "ol");
        if (numbered && numbered[1] !== "1") list.start = parseInt(numbered[1], 10);
        var pattern = bullet ? /^\s*(?:[-*\u2022])\s+(.*)$/ : /^\s*\d+[.)]\s+(.*)$/;
        var m;
        while (i < lines.length && (m = pattern.exec(lines[i]))) {
          var li = el("li"); appendInline(li, m[1]); list.appendChild(li); i++;
        }
        frag.appendChild(list);
        continue;
      }
      if (!line.trim()) { endPara(); i++; continue; }
      var heading = /^\s*#{1,6}\s+(.*)$/.exec(line);
      if (heading) { endPara(); var p = el("p"), s = el("strong"); appendInline(s, heading[1]); p.appendChild(s); frag.appendChild(p); i++; continue; }
      if (!para) { para = el("p"); frag.appendChild(para); } else { para.appendChild(el("br")); }
      appendInline(para, line);
      i++;
    }
    return frag;
  }

  // --- messages -------------------------------------------------------------------------------
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function disableOldButtons() {
    var groups = log.querySelectorAll(".buttons button");
    for (var i = 0; i < groups.length; i++) groups[i].disabled = true;
  }

  function renderEntry(entry, live) {
    var bubble;
    if (entry.who === "user") {
      bubble = el("div", "msg user", entry.text);
      bubble.setAttribute("aria-label", "You said: " + entry.text);
    } else if (entry.who === "error") {
      bubble = el("div", "msg error", entry.text);
    } else {
      bubble = el("div", "msg bot");
      if (entry.text) bubble.appendChild(renderMarkdown(entry.text));
      var src = entry.image && safeUrl(entry.image);
      if (src) {
        var img = el("img");
        img.alt = entry.alt || "Chart of the results";
        img.src = src;
        img.addEventListener("load", scrollDown);
        bubble.appendChild(img);
      }
      if (entry.buttons && entry.buttons.length) {
        var box = el("div", "buttons");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Suggested answers");
        entry.buttons.forEach(function (b) {
          var button = el("button", null, String(b.title != null ? b.title : b.payload));
          button.type = "button";
          button.addEventListener("click", function () {
            if (busy) return;
            send(String(b.payload != null ? b.payload : b.title), String(b.title != null ? b.title : b.payload));
          });
          box.appendChild(button);
        });
        bubble.appendChild(box);
      }
    }
    log.appendChild(bubble);
    if (live) scrollDown();
    return bubble;
  }

  function add(entry) {
    if (entry.who === "user") disableOldButtons();
    remember(entry);
    return renderEntry(entry, true);
  }

  function showBotMessages(messages) {
    (messages || []).forEach(function (m) {
      var entry = { who: "bot" };
      var custom = m.custom && typeof m.custom === "object" ? m.custom : {};
      entry.text = typeof m.text === "string" ? m.text : (typeof custom.text === "string" ? custom.text : "");
      if (typeof m.image === "string") entry.image = m.image;
      if (Array.isArray(m.buttons)) {
        entry.buttons = m.buttons.filter(function (b) { return b && (b.payload != null || b.title != null); })
          .map(function (b) { return { title: b.title, payload: b.payload }; });
      }
      if (entry.text || entry.image || (entry.buttons && entry.buttons.length)) add(entry);
    });
  }

  // --- notices and retry ----------------------------------------------------------------------
  function showNotice(text, retry, label) {
    noticeText.textContent = text;
    noticeRetry.textContent = label || "Retry";
    retryAction = retry || null;
    noticeRetry.hidden = !retry;
    noticeRetry.disabled = false;
    notice.hidden = false;
  }
  function hideNotice() { notice.hidden = true; retryAction = null; }
  noticeRetry.addEventListener("click", function () {
    var action = retryAction;
    retryAction = null;           // a second click cannot run it again
    noticeRetry.disabled = true;
    if (action) action();
  });

  var queued = null;  // the upload's /dataset_uploaded, if it finished while a message was in flight
  function setBusy(value) {
    busy = value;
    typing.hidden = !value;
    sendButton.disabled = value;
    if (value) { log.setAttribute("aria-busy", "true"); } else { log.removeAttribute("aria-busy"); }
    if (!value && queued) {
      var next = queued;
      queued = null;
      setTimeout(function () { send(next.payload, next.display); }, 0);
    }
  }
  function sendWhenIdle(payload, display) {
    if (busy) queued = { payload: payload, display: display };
    else send(payload, display);
  }

  // --- talking to Rasa -------------------------------------------------------------------------
  function send(payload, display) {
    if (busy) return;
    hideNotice();
    add({ who: "user", text: display || payload });
    deliver({ sender: sender, message: payload, metadata: { message_id: newId() } });
  }

  /* Posts one message. A retry re-posts the same body (same message_id) only after this
     attempt has failed, and only once per click. The server processes a message_id at most
     once (deploy/rest_channel.py): when the first attempt was processed but its answer was
     lost on the way, the retry gets that answer, and "yes" never lands on the next question. */
  function deliver(body) {
    setBusy(true);
    fetch(WEBHOOK, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      if (res.status >= 500 || res.status === 429) { throw { unavailable: true, status: res.status }; }
      if (!res.ok) { throw { status: res.status }; }
      return res.json();
    }).then(function (messages) {
      setBusy(false);
      hideNotice();
      showBotMessages(messages);
      if (!messages || !messages.length) add({ who: "bot", text: "(no answer; type **help** to see what I can do)" });
      input.focus();
    }).catch(function (err) {
      setBusy(false);
      var text;
      if (err && err.status && !err.unavailable) {
        text = "The assistant could not handle that message (error " + err.status + ").";
        showNotice(text, null);
        return;
      }
      text = err && err.unavailable
        ? "The assistant is temporarily unavailable. Your message was not answered."
        : "Cannot reach the assistant. Check your connection.";
      showNotice(text + " Press Retry to send it again.", function () { hideNotice(); deliver(body); });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  // --- upload ---------------------------------------------------------------------------------
  function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
  function setProgress(percent, text, indeterminate) {
    progressBox.hidden = false;
    progressBar.classList.toggle("indeterminate", !!indeterminate);
    progressBar.style.width = indeterminate ? "" : percent + "%";
    progressBar.setAttribute("aria-valuenow", String(Math.round(percent)));
    progressText.textContent = text;
  }

  /* Resumable upload with the tus 1.0.0 protocol (core + creation + termination), hand-rolled
     (docs/widget.md): POST creates the upload, each PATCH sends one chunk from the offset the
     server holds, HEAD asks for that offset after a drop, GET answers what POST /api/upload
     would. The upload URL is kept in localStorage per file, so a reload can resume it. */
  var TUS = "api/uploads/";
  var CHUNK_BYTES = 2 * 1048576;
  var BACKOFF_SECONDS = [1, 2, 4, 8, 15, 30, 30, 30, 60, 60];
  var currentUpload = null;   // {file, url, cancelled, xhr, timer}

  function fileKey(file) {
    return "tpr.upload." + sender + "." + [file.name, file.size, file.lastModified].join("|");
  }
  function utf8b64(text) { return btoa(unescape(encodeURIComponent(text))); }
  function metadataHeader(file) {
    return "filename " + utf8b64(file.name) + ",sender " + utf8b64(sender);
  }

  /* One tus request; resolves {status, xhr} for any HTTP answer, rejects on a network error. */
  function tusRequest(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      if (currentUpload) currentUpload.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      Object.keys(headers || {}).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onProgress) xhr.upload.addEventListener("progress", function (e) { onProgress(e.loaded); });
      xhr.addEventListener("load", function () { resolve({ status: xhr.status, xhr: xhr }); });
      xhr.addEventListener("error", function () { reject({ network: true }); });
      xhr.addEventListener("timeout", function () { reject({ network: true }); });
      xhr.addEventListener("abort", function () { reject({ aborted: true }); });
      xhr.send(body == null ? null : body);
    });
  }
  function jsonOf(xhr) { try { return JSON.parse(xhr.responseText); } catch (e) { return null; } }
  function wait(job, seconds) {
    return new Promise(function (resolve, reject) {
      job.timer = setTimeout(resolve, seconds * 1000);
      job.stopWaiting = function () { clearTimeout(job.timer); reject({ aborted: true }); };
    });
  }

  /* The server's offset for a stored upload URL: a number, null when expired/unknown. */
  function serverOffset(url) {
    return tusRequest("HEAD", url, {}, null).then(function (res) {
      if (res.status === 200) return Number(res.xhr.getResponseHeader("Upload-Offset"));
      if (res.status === 404 || res.status === 410 || res.status === 403) return null;
      throw { status: res.status, unavailable: res.status >= 500 };
    });
  }

  function upload(file) {
    if (!file) return;
    if (currentUpload) { showNotice("An upload is already in progress.", null); return; }
    hideNotice();
    if (file.size === 0) { add({ who: "error", text: "The file " + file.name + " is empty." }); return; }
    // Ward boundary files (GeoJSON, zipped shapefile, GeoPackage) have their own, larger limit;
    // the server decides the kind from the content and applies the right one.
    var isBoundaries = /\.(geojson|json|zip|gpkg)$/i.test(file.name || "");
    var limit = isBoundaries ? boundaryMaxBytes : uploadMaxBytes;
    if (file.size > limit) {
      add({ who: "error", text: "The file " + file.name + " is " + mb(file.size) + ", larger than the " + mb(limit) + " limit. Please upload a smaller " + (isBoundaries ? "boundary file (fewer states, or a zipped shapefile)." : "export (for example one state).") });
      return;
    }
    var saved = null;
    try { saved = JSON.parse(load(fileKey(file)) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.url) { startUpload(file, null); return; }
    // The same file was being uploaded before (e.g. before a reload): offer to resume it.
    serverOffset(saved.url).then(function (offset) {
      if (offset == null || offset <= 0 || offset >= file.size) { startUpload(file, offset === file.size ? saved.url : null); return; }
      showNotice("Part of " + file.name + " was already sent: " + mb(offset) + " of " + mb(file.size) + ". Resume the upload?",
        function () { hideNotice(); startUpload(file, saved.url); }, "Resume");
    }).catch(function () { startUpload(file, saved.url); });
  }

  function startUpload(file, resumeUrl) {
    var job = { file: file, url: resumeUrl, cancelled: false, xhr: null, timer: null, stopWaiting: null, resumedAt: null };
    currentUpload = job;
    currentXhr = job;
    uploadButton.disabled = true;
    cancelButton.hidden = false;
    progressBox.dataset.state = "uploading";
    setProgress(0, "Uploading " + file.name + "…");
    var started = Date.now(), sentAtStart = 0, attempt = 0;

    function showSent(offset) {
      var pct = (100 * offset) / file.size;
      var elapsed = (Date.now() - started) / 1000, sent = offset - sentAtStart;
      var left = sent > 0 && elapsed > 2 ? Math.round((elapsed * (file.size - offset)) / sent) : null;
      setProgress(pct, "Uploading " + file.name + ": " +
        (job.resumedAt != null ? "resumed at " + mb(job.resumedAt) + " of " + mb(file.size) + "; " : "") +
        mb(offset) + " of " + mb(file.size) + " (" + Math.floor(pct) + "%)" +
        (left != null && left > 0 ? ", about " + (left > 90 ? Math.round(left / 60) + " min" : left + " s") + " left" : ""));
    }

    function create() {
      return tusRequest("POST", TUS, { "Upload-Length": String(file.size), "Upload-Metadata": metadataHeader(file) }, null)
        .then(function (res) {
          if (res.status !== 201) throw { status: res.status, data: jsonOf(res.xhr), unavailable: res.status >= 500 };
          job.url = new URL(res.xhr.getResponseHeader("Location"), window.location.href).href;
          store(fileKey(file), JSON.stringify({ url: job.url }));
          return 0;
        });
    }

    /* Where to continue: the server's offset (after a drop or a reload), or a new upload. */
    function locate() {
      if (!job.url) return create();
      return serverOffset(job.url).then(function (offset) {
        if (offset == null) { job.url = null; return create(); }  // expired: start again
        if (offset > 0) { job.resumedAt = offset; sentAtStart = offset; started = Date.now(); }
        return offset;
      });
    }

    function sendFrom(offset) {
      if (job.cancelled) throw { aborted: true };
      showSent(offset);
      if (offset >= file.size) return finishUpload();
      var end = Math.min(offset + CHUNK_BYTES, file.size);
      var last = end === file.size;
      return tusRequest("PATCH", job.url,
        { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        file.slice(offset, end),
        function (loaded) {
          showSent(offset + loaded);
          if (last && offset + loaded >= file.size) {
            progressBox.dataset.state = "reading";
            setProgress(100, "Upload complete. Reading the file (a national file takes a minute)…", true);
          }
        }
      ).then(function (res) {
        if (res.status === 204) { attempt = 0; return sendFrom(Number(res.xhr.getResponseHeader("Upload-Offset"))); }
        if (res.status === 409) return locate().then(sendFrom);  // the server holds another offset
        if (res.status === 404 || res.status === 410) { job.url = null; return create().then(sendFrom); }
        throw { status: res.status, data: jsonOf(res.xhr), unavailable: res.status >= 500 || res.status === 429 };
      });
    }

    function finishUpload() {
      progressBox.dataset.state = "reading";
      setProgress(100, "Upload complete. Reading the file (a national file takes a minute)…", true);
      return tusRequest("GET", job.url, {}, null).then(function (res) {
        var data = jsonOf(res.xhr);
        if (res.status === 409) return locate().then(sendFrom);
        if (res.status >= 500) throw { status: res.status, unavailable: true };
        return { status: res.status, data: data };
      });
    }

    function run() {
      return locate().then(sendFrom).catch(function (err) {
        if (job.cancelled || (err && err.aborted)) throw { aborted: true };
        if (!(err && (err.network || err.unavailable)) || attempt >= BACKOFF_SECONDS.length) throw err;
        // A dropped connection or a busy server: wait, then continue from the server's offset.
        var delay = BACKOFF_SECONDS[attempt++];
        progressBox.dataset.state = "retrying";
        progressText.textContent = "Connection lost. Retrying in " + delay + " s…";
        return wait(job, delay).then(function () { progressBox.dataset.state = "uploading"; return run(); });
      });
    }

    function done() {
      currentUpload = null;
      currentXhr = null;
      uploadButton.disabled = false;
      cancelButton.hidden = true;
      fileInput.value = "";
    }

    run().then(function (result) {
      done();
      try { localStorage.removeItem(fileKey(file)); } catch (e) { /* ignore */ }
      var data = result.data;
      if (result.status === 200 && data && data.boundaries_id) {  // a ward boundary file (interfaces.md)
        progressBox.dataset.state = "done";
        setProgress(100, "Uploaded " + file.name + " (" + Number(data.wards || 0).toLocaleString("en-US") + " ward polygons).");
        sendWhenIdle("/boundaries_uploaded" + JSON.stringify({ boundaries_id: String(data.boundaries_id) }),
          "Uploaded boundaries " + file.name);
      } else if (result.status === 200 && data && data.dataset_id) {
        progressBox.dataset.state = "done";
        setProgress(100, "Uploaded " + file.name + " (" + Number(data.rows || 0).toLocaleString("en-US") + " rows)" +
          (job.resumedAt != null ? ", resumed at " + mb(job.resumedAt) + " of " + mb(file.size) : "") + ".");
        var command = "/dataset_uploaded" + JSON.stringify({ dataset_id: String(data.dataset_id) });
        sendWhenIdle(command, "Uploaded " + file.name);
      } else {
        uploadRefused(result.status, data);
      }
    }).catch(function (err) {
      done();
      progressBox.hidden = true;
      if (err && err.aborted) {
        progressBox.dataset.state = "cancelled";
        if (job.url) tusRequest("DELETE", job.url, {}, null).catch(function () { /* expires anyway */ });
        try { localStorage.removeItem(fileKey(file)); } catch (e) { /* ignore */ }
        return;
      }
      progressBox.dataset.state = "failed";
      if (err && err.status && !err.unavailable) {
        try { localStorage.removeItem(fileKey(file)); } catch (e) { /* ignore */ }
        uploadRefused(err.status, err.data);
        return;
      }
      showNotice(err && err.unavailable
        ? "The upload service is temporarily unavailable. What was sent is kept."
        : "The upload was interrupted: cannot reach the server. What was sent is kept.",
        function () { hideNotice(); startUpload(file, job.url); });
    });
  }

  function uploadRefused(status, data) {
    progressBox.dataset.state = "failed";
    progressBox.hidden = true;
    var fallback = status === 413
      ? "The file is larger than the upload limit. Please upload a smaller export (for example one state)."
      : "The upload was refused (error " + status + ").";
    add({ who: "error", text: (data && data.error) || fallback });
  }

  /* After a reload: say that an unfinished upload can be resumed by choosing the file again. */
  function mentionUnfinishedUploads() {
    var prefix = "tpr.upload." + sender + ".";
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key && key.indexOf(prefix) === 0) {
          var name = key.slice(prefix.length).split("|")[0];
          showNotice("The upload of " + name + " did not finish. Choose the same file again to resume it where it stopped.", null);
          return;
        }
      }
    } catch (e) { /* storage unavailable */ }
  }

  uploadButton.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () { upload(fileInput.files && fileInput.files[0]); });
  cancelButton.addEventListener("click", function () {
    var job = currentUpload;
    if (!job) return;
    job.cancelled = true;
    if (job.stopWaiting) job.stopWaiting();
    if (job.xhr) job.xhr.abort();
  });

  var dragDepth = 0;
  function hasFiles(e) { return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0; }
  document.addEventListener("dragenter", function (e) { if (!hasFiles(e)) return; e.preventDefault(); dragDepth++; dropOverlay.hidden = false; });
  document.addEventListener("dragover", function (e) { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener("dragleave", function (e) { if (!hasFiles(e)) return; dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) dropOverlay.hidden = true; });
  document.addEventListener("drop", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault(); dragDepth = 0; dropOverlay.hidden = true;
    upload(e.dataTransfer.files[0]);
  });

  // --- conversation control --------------------------------------------------------------------
  $("new-conversation").addEventListener("click", function () {
    if (busy || currentXhr) return;
    try { localStorage.removeItem(historyKey()); } catch (e) { /* ignore */ }
    sender = newId();
    store("tpr.sender", sender);
    history = [];
    log.textContent = "";
    hideNotice();
    progressBox.hidden = true;
    greet();
    input.focus();
  });

  function greet() {
    add({ who: "bot", text: "Hello! Upload the NMEP health-facility workbook (**.xlsx**, **.xls** or **.csv**) with the **Upload** button or by dropping it here, and I will calculate ward-level test positivity rates." });
  }

  // --- start ----------------------------------------------------------------------------------
  history.forEach(function (entry) { renderEntry(entry, false); });
  // Only the latest answer's buttons stay clickable after a reload.
  var lastUser = -1;
  history.forEach(function (entry, index) { if (entry.who === "user") lastUser = index; });
  var bubbles = log.children;
  for (var b = 0; b <= lastUser && b < bubbles.length; b++) {
    var old = bubbles[b].querySelectorAll(".buttons button");
    for (var k = 0; k < old.length; k++) old[k].disabled = true;
  }
  if (!history.length) greet();
  scrollDown();
  mentionUnfinishedUploads();

  fetch(HEALTH).then(function (r) { return r.ok ? r.json() : null; }).then(function (h) {
    if (h && h.upload_max_bytes) uploadMaxBytes = h.upload_max_bytes;
    if (h && h.boundary_max_bytes) boundaryMaxBytes = h.boundary_max_bytes;
  }).catch(function () { /* the first message will report an unreachable server */ });

  window.tprWidget = { sender: function () { return sender; }, renderMarkdown: renderMarkdown };
})();
