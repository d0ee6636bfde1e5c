"""The freeze lab as an app page: the freeze panel, a shareable link, the feature views.

Voilà turns ``apps/freeze_lab.ipynb`` into a page without code. The page's
address reaches the kernel as environment variables (``QUERY_STRING`` and
``VOILA_REQUEST_URL``), so a link can carry a mask::

    http://127.0.0.1:8866/?mask=F%3Ablock1-3%20T%3Ablock4-5%2Chead

opens the panel with blocks 1-3 frozen, and the page always shows the link
of the mask currently ticked, with a copy button, for an instructor to send
("look at this configuration"); in a Voilà page the address bar follows the
ticks too. A link whose mask cannot be read shows why, and the default mask.

The mask is percent-encoded in full (``:`` and ``,`` too): a login page
sends a visitor without the token back to the ``next`` address, and
jupyter_server's redirect (2.x, ``LoginFormHandler._redirect_safe``) turns
the first ``:`` of that address into ``://``. Links written before the full
encoding (``mask=F:block1-3...``) come back as ``mask=F://block1-3...``;
`link_mask` reads those too.

The logic is in plain functions, tested without a browser: `link_mask`
(the query string to the mask to apply, or a message) and `share_link` (the
link of a mask). `freeze_lab_app` only puts the widgets together.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import ipywidgets as widgets
import keras

from freezelab._validation import check_model
from freezelab.core.freezing import get_mask
from freezelab.core.mask_text import mask_from_text, mask_to_text
from freezelab.core.models import describe_weights
from freezelab.widgets.feature_views import filter_grid_view, heatmap_view
from freezelab.widgets.freeze_panel import FreezePanel

MASK_PARAMETER = "mask"
# Query parameters a shared link leaves out: the mask is written anew, and a
# token (Voilà's or JupyterLab's) is a password, not part of a configuration.
_NOT_SHARED = frozenset({MASK_PARAMETER, "token"})
# What jupyter_server's login redirect makes of an unencoded "F:..." (see the module docstring).
_AFTER_LOGIN = re.compile(r"^([FT]):/+")


@dataclass(frozen=True)
class LinkMask:
    """What a page's query string says about the mask to open with.

    Attributes:
        text: The mask to apply in its text form (normalised), or None to
            keep the default mask.
        message: One line for the page ("" when the link names no mask).
        error: True when the link names a mask that cannot be read.
    """

    text: str | None
    message: str
    error: bool = False


def link_mask(
    query: str | None, layer_names: Sequence[str] | keras.Model, default: str
) -> LinkMask:
    """Reads the mask a page's query string asks for.

    Args:
        query: The query string (``"mask=F%3Ablock1-3%20T%3Ablock4-5%2Chead"``,
            with or without the leading ``?``), or None / ``""`` for none.
            The older, partly encoded form (``mask=F:block1-3%20T:...``) and
            what a login redirect makes of it (``mask=F://block1-3...``)
            are read as well.
        layer_names: The weighted layers of the model (names in order, or
            the model), to check the mask against.
        default: The text form of the mask shown when the link has none or
            a malformed one.

    Returns:
        A `LinkMask`: the mask to apply, or None with a message saying why
        the default stays.

    Raises:
        ValueError: If ``query`` is not a string or None.
    """
    if query is None:
        return LinkMask(None, "")
    if not isinstance(query, str):
        raise ValueError(
            "query takes the page's query string (a str, e.g. 'mask=T:all') or None. "
            f"Received: {query!r} of type {type(query).__name__}"
        )
    given = [
        value
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=True)
        if key == MASK_PARAMETER
    ]
    if not given:
        return LinkMask(None, "")
    if len(given) > 1:
        return _unreadable(
            f"the link gives {len(given)} masks, one is expected: {given!r}", default
        )
    text = _AFTER_LOGIN.sub(r"\1:", given[0].strip())
    if not text:
        return _unreadable(
            "the link's mask is empty (write e.g. mask=F:block1-3 T:block4-5,head)", default
        )
    try:
        mask = mask_from_text(text, layer_names)
    except ValueError as error:
        return _unreadable(str(error), default)
    normalised = mask_to_text(mask)
    return LinkMask(normalised, f"Mask from the link: {normalised}")


def _unreadable(reason: str, default: str) -> LinkMask:
    return LinkMask(
        None,
        f"The mask in this page's link could not be read, so the page shows the default "
        f"mask ({default}). Reason: {reason}",
        error=True,
    )


def share_link(request_url: str | None, mask_text: str) -> str:
    """The link that opens the app page at ``mask_text``.

    Args:
        request_url: The address the page was opened with (Voilà gives it to
            the kernel as ``VOILA_REQUEST_URL``), or None / ``""`` outside
            Voilà: the link is then relative (``?mask=...``).
        mask_text: The mask in its text form.

    Returns:
        The page's address with ``mask=<mask_text>`` percent-encoded in full
        (so that it survives a login redirect), other query parameters kept
        except ``token`` (a password, never shared).

    Raises:
        ValueError: If ``request_url`` is not an http(s) address, or
            ``mask_text`` is not a string.
    """
    if not isinstance(mask_text, str):
        raise ValueError(
            f"mask_text takes a mask's text form (a str). Received: {mask_text!r} of type "
            f"{type(mask_text).__name__}"
        )
    if request_url is not None and not isinstance(request_url, str):
        raise ValueError(
            f"request_url takes the page's address (a str) or None. Received: {request_url!r}"
        )
    parts = urlsplit(request_url or "")
    if request_url and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ValueError(
            "request_url takes an http(s) address such as 'http://127.0.0.1:8866/'. "
            f"Received: {request_url!r}"
        )
    kept = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _NOT_SHARED
    ]
    query = urlencode([*kept, (MASK_PARAMETER, mask_text)], quote_via=quote, safe="")
    if not request_url:
        return f"?{query}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def page_request(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """The query string and address of the page, as Voilà passes them to the kernel.

    Args:
        environ: The environment to read (default: ``os.environ``).

    Returns:
        ``(QUERY_STRING, VOILA_REQUEST_URL)``, each None when not set (in a
        notebook outside Voilà).
    """
    environ = os.environ if environ is None else environ
    return environ.get("QUERY_STRING"), environ.get("VOILA_REQUEST_URL") or None


class FreezeLabApp:
    """The app page's widgets: the freeze panel, the link of its mask, the feature views.

    Args:
        model: The model to freeze (VGG16 with a head in the app).
        features: A caffe-preprocessed conv base with trained features for
            the feature views (ImageNet VGG16 or the teacher), or None for
            none.
        query: The page's query string; None reads ``QUERY_STRING``.
        request_url: The page's address; None reads ``VOILA_REQUEST_URL``.

    Attributes:
        panel: The `FreezePanel`.
        link: The HTML widget with the current mask's link (``fl-app-link``).
        notice: What the page says about the link's mask (``fl-app-notice``).
        opened_with: The `LinkMask` read from the query string.
        feature_views: The filter-grid and heatmap views (empty without ``features``).
        widget: The root ipywidget.
    """

    def __init__(
        self,
        model: keras.Model,
        features: keras.Model | None = None,
        query: str | None = None,
        request_url: str | None = None,
    ):
        check_model(model, "freeze_lab_app")
        if features is not None:
            check_model(features, "freeze_lab_app (features)")
        env_query, env_url = page_request()
        self.request_url = env_url if request_url is None else request_url
        self.panel = FreezePanel(model, show_weights=False)  # the page says it once, above
        if not self.panel.checkboxes:
            raise ValueError(
                "freeze_lab_app needs a model with weights to freeze (e.g. VGG16 from "
                f"freezelab.load_vgg16). Received: model {model.name!r} without weights"
            )
        default = mask_to_text(get_mask(model))
        self.opened_with = link_mask(env_query if query is None else query, model, default)
        if self.opened_with.text is not None:
            self.panel.set_mask(self.opened_with.text)
        self.notice = _html("fl-app-notice", _notice_html(self.opened_with))
        self.link = _html("fl-app-link")
        self.panel.text_box.observe(lambda _: self._show_link(), names="value")
        self._show_link()
        weights = [f"Freeze panel: {describe_weights(model)}"]
        parts: list[widgets.Widget] = [self.notice, self.link, self.panel.widget]
        self.feature_views: list[widgets.VBox] = []
        if features is not None:
            weights.append(f"Feature views: {describe_weights(features)}")
            self.feature_views = [filter_grid_view(features), heatmap_view(features)]
            parts += [widgets.HTML("<h3>What the layers see</h3>"), *self.feature_views]
        self.weights = _html("fl-app-weights", "<br>".join(html.escape(w) for w in weights))
        self.widget = widgets.VBox([self.weights, *parts])
        self.widget.add_class("fl-freeze-lab-app")

    @property
    def link_url(self) -> str:
        """The link of the mask ticked now."""
        return share_link(self.request_url, self.panel.mask_text)

    def _show_link(self) -> None:
        link = self.link_url
        url = html.escape(link, quote=True)
        follow = ""
        if self.request_url:
            # ipywidgets runs no scripts, but an image that fails to load runs its onerror:
            # the Voilà page's address takes the mask's query (same path, token dropped).
            query = html.escape(urlsplit(link).query, quote=True)
            follow = (
                '<img class="fl-follow-address" alt="" src="data:," style="display:none" '
                f"onerror=\"history.replaceState(history.state, '', '?{query}')\">"
            )
        self.link.value = (
            '<div style="display:flex;flex-wrap:wrap;align-items:center;gap:6px;max-width:100%">'
            "<span>Link to this mask</span>"
            f'<code class="fl-link-mask">{html.escape(self.panel.mask_text)}</code>'
            "<span>:</span>"
            f'<a class="fl-share-link" href="{url}" target="_blank" '
            f'style="overflow-wrap:anywhere;min-width:0">{url}</a>'
            f'<button class="fl-copy-link" type="button" data-link="{url}" '
            f'onclick="{_COPY_SCRIPT}">copy link</button></div>'
            "<small>Send it to show this configuration. It carries no token: whoever opens "
            "it needs access to this server (a login page brings them back to it).</small>"
            f"{follow}"
        )

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def freeze_lab_app(
    model: keras.Model,
    features: keras.Model | None = None,
    query: str | None = None,
    request_url: str | None = None,
) -> FreezeLabApp:
    """The freeze lab as one app: panel, the current mask's link, feature views.

    In a Voilà page it opens at the mask in the page's link (``?mask=...``).

    Args:
        model: The model to freeze (e.g. VGG16 with a head).
        features: Trained conv features for the feature views
            (`freezelab.pretrained_base`), or None.
        query: The query string; None reads Voilà's ``QUERY_STRING``.
        request_url: The page's address; None reads ``VOILA_REQUEST_URL``.

    Returns:
        The `FreezeLabApp`; display it (``app.widget``).

    Raises:
        ValueError: If ``model`` or ``features`` is not a Keras model, or ``model``
            has no layers with weights.
    """
    return FreezeLabApp(model, features=features, query=query, request_url=request_url)


# The copy button's click, in the page: the clipboard API where the page is a secure context
# (https, localhost), else the older copy command on a hidden text area.
_COPY_SCRIPT = (
    "(function (button) {"
    " var text = button.dataset.link;"
    " function done(ok) { button.textContent = ok ? 'copied' : 'select the link to copy it'; }"
    " function fallback() {"
    "  var area = document.createElement('textarea'); area.value = text;"
    "  document.body.appendChild(area); area.select();"
    "  var ok = false; try { ok = document.execCommand('copy'); } catch (e) {}"
    "  area.remove(); done(ok); }"
    " if (navigator.clipboard && window.isSecureContext) {"
    "  navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);"
    " } else { fallback(); }"
    "})(this)"
)


def _notice_html(opened: LinkMask) -> str:
    if not opened.message:
        return ""
    colour = "#b30" if opened.error else "#2a7"
    return f'<p style="color:{colour}"><b>{html.escape(opened.message)}</b></p>'


def _html(css_class: str, value: str = "") -> widgets.HTML:
    label = widgets.HTML(value)
    label.add_class(css_class)
    return label
