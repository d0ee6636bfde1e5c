"""The app page's logic: the mask a link asks for, the link of a mask, and the wiring."""

from urllib.parse import urlsplit

import pytest

import freezelab as fl
from freezelab.widgets.app import link_mask, page_request, share_link

VGG_NAMES = [
    *(f"block1_conv{i}" for i in (1, 2)),
    *(f"block2_conv{i}" for i in (1, 2)),
    *(f"block3_conv{i}" for i in (1, 2, 3)),
    *(f"block4_conv{i}" for i in (1, 2, 3)),
    *(f"block5_conv{i}" for i in (1, 2, 3)),
    "head_dense_1",
    "predictions",
]


def test_no_mask_in_the_link_keeps_the_default():
    for query in (None, "", "?", "theme=dark", "token=abc"):
        opened = link_mask(query, VGG_NAMES, default="T:all")
        assert opened.text is None, query
        assert opened.message == ""
        assert not opened.error


def test_a_mask_in_the_link_is_read_and_normalised():
    # %20 and + both mean a space in a query string; the leading ? is optional.
    for query in (
        "mask=F:block1-3%20T:block4-5,head",
        "?token=abc&mask=F:block1-3+T:block4-5,head",
        "mask=F%3Ablock1%2Cblock2%2Cblock3%20T%3Aall",
    ):
        opened = link_mask(query, VGG_NAMES, default="T:all")
        assert opened.text == "F:block1-3 T:block4-5,head", query
        assert not opened.error
        assert "F:block1-3 T:block4-5,head" in opened.message


def test_a_malformed_mask_says_why_and_names_the_default():
    cases = {
        "mask=F:block9": "block9",  # a block the model lacks
        "mask=frozen:block1": "'F:'",  # not the F:/T: form
        "mask=F:block1-3": "leaves out",  # layers without a flag
        "mask=": "empty",
        "mask=T:all&mask=F:all": "2 masks",
    }
    for query, reason in cases.items():
        opened = link_mask(query, VGG_NAMES, default="T:all")
        assert opened.error, query
        assert opened.text is None
        assert "could not be read" in opened.message
        assert "default mask (T:all)" in opened.message
        assert reason in opened.message, (query, opened.message)


def test_link_mask_rejects_a_query_that_is_not_text():
    with pytest.raises(ValueError, match=r"query takes .* Received: 12"):
        link_mask(12, VGG_NAMES, default="T:all")


def test_share_link_drops_the_token_and_the_old_mask_and_keeps_the_rest():
    link = share_link(
        "http://127.0.0.1:8866/voila/render/freeze_lab.ipynb?token=secret&mask=T:all&theme=dark",
        "F:block1-3 T:block4-5,head",
    )
    assert link == (
        "http://127.0.0.1:8866/voila/render/freeze_lab.ipynb"
        "?theme=dark&mask=F%3Ablock1-3%20T%3Ablock4-5%2Chead"
    )
    assert "secret" not in link


def test_share_link_reads_back_to_the_same_mask():
    text = "F:block1-4,block5_conv1 T:block5_conv2,block5_conv3,head"
    link = share_link("https://class.example.org/app/", text)
    assert link_mask(urlsplit(link).query, VGG_NAMES, default="T:all").text == text


class _LoginPage:
    """Just what jupyter_server's login handler reads when it sends a visitor back."""

    base_url = "/"
    allow_origin = ""
    allow_origin_pat = None

    def __init__(self):
        import logging

        self.log = logging.getLogger("login")
        self.redirected_to = None

    def redirect(self, url):
        self.redirected_to = url


def _through_login(link: str) -> str:
    """The address a visitor without the token lands on after logging in.

    The server sends them to ``/login?next=<the path and query, percent-encoded>``;
    the login form reads ``next`` back (one decoding) and redirects with jupyter_server's
    own ``LoginFormHandler._redirect_safe``.
    """
    from urllib.parse import parse_qs, quote, urlencode

    from jupyter_server.auth.login import LoginFormHandler

    parts = urlsplit(link)
    login_url = "/login?" + urlencode({"next": f"{parts.path}?{parts.query}"}, quote_via=quote)
    (next_url,) = parse_qs(urlsplit(login_url).query)["next"]
    page = _LoginPage()
    LoginFormHandler._redirect_safe(page, next_url)
    return page.redirected_to


def test_a_shared_link_survives_the_login_redirect():
    text = "F:block1-3,block4_conv1 T:block4_conv2,block4_conv3,block5,head"
    link = share_link("http://127.0.0.1:8866/?token=secret", text)
    assert not set(urlsplit(link).query) & set(":, /+")  # nothing a redirect could change
    landed = _through_login(link)
    assert landed == f"/?{urlsplit(link).query}"
    assert link_mask(urlsplit(landed).query, VGG_NAMES, default="T:all").text == text


def test_an_old_link_mangled_by_the_login_redirect_is_still_read():
    old = "http://127.0.0.1:8866/?mask=F:block1-3%20T:block4-5,head"  # written before the fix
    landed = _through_login(old)
    assert "F://block1-3" in landed  # what jupyter_server does to the first colon
    for query in (urlsplit(old).query, urlsplit(landed).query):
        opened = link_mask(query, VGG_NAMES, default="T:all")
        assert opened.text == "F:block1-3 T:block4-5,head", query
        assert not opened.error


def test_share_link_outside_voila_is_relative():
    assert share_link(None, "T:all") == "?mask=T%3Aall"
    assert share_link("", "F:all") == "?mask=F%3Aall"


def test_share_link_rejects_what_is_not_an_address_or_a_mask():
    with pytest.raises(ValueError, match=r"http\(s\) address .* Received: 'localhost:8866'"):
        share_link("localhost:8866", "T:all")
    with pytest.raises(ValueError, match="Received: None"):
        share_link("http://127.0.0.1:8866/", None)


def test_page_request_reads_what_voila_sets():
    environ = {"QUERY_STRING": "mask=T:all", "VOILA_REQUEST_URL": "http://127.0.0.1:1/?mask=T:all"}
    assert page_request(environ) == ("mask=T:all", "http://127.0.0.1:1/?mask=T:all")
    assert page_request({}) == (None, None)


def _keras_trainable(model) -> int:
    return sum(int(w.numpy().size) for w in model.trainable_weights)


def test_app_opens_at_the_link_mask_and_its_link_follows_the_ticks(small_vgg_flat):
    model = small_vgg_flat
    app = fl.freeze_lab_app(
        model,
        query="mask=F:block1-4%20T:block5,head",
        request_url="http://127.0.0.1:8866/?token=t&mask=F:block1-4%20T:block5,head",
    )
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert frozen == VGG_NAMES[:10]  # blocks 1-4, by Keras's own flags
    head = sum(model.get_layer(n).count_params() for n in ("head_dense_1", "predictions"))
    block5 = sum(model.get_layer(f"block5_conv{i}").count_params() for i in (1, 2, 3))
    assert _keras_trainable(model) == block5 + head
    assert not app.opened_with.error
    assert "F:block1-4 T:block5,head" in app.notice.value
    assert "http://127.0.0.1:8866/?mask=F%3Ablock1-4%20T%3Ablock5%2Chead" in app.link.value
    assert "token=" not in app.link.value

    app.panel.checkboxes["block5_conv1"].value = False
    assert model.get_layer("block5_conv1").trainable is False
    expected = share_link("http://127.0.0.1:8866/", fl.mask_to_text(fl.get_mask(model)))
    assert expected.endswith(
        "mask=F%3Ablock1-4%2Cblock5_conv1%20T%3Ablock5_conv2%2Cblock5_conv3%2Chead"
    )
    assert app.link_url == expected
    assert expected in app.link.value


def test_the_link_has_a_copy_button_and_the_voila_address_follows_it(small_vgg_flat):
    import re
    from html import unescape

    app = fl.freeze_lab_app(small_vgg_flat, query="", request_url="http://127.0.0.1:3/?token=t")
    app.panel.set_mask("F:block1-2 T:block3-5,head")
    (copied,) = re.findall(r'class="fl-copy-link"[^>]*data-link="([^"]+)"', app.link.value)
    assert unescape(copied) == app.link_url
    (address,) = re.findall(r"replaceState\(history.state, '', '([^']+)'\)", app.link.value)
    assert unescape(address) == "?" + urlsplit(app.link_url).query
    assert "token" not in address
    # In a notebook (no Voilà address) the page's address is JupyterLab's: left alone.
    in_notebook = fl.freeze_lab_app(small_vgg_flat, query="", request_url="")
    assert "replaceState" not in in_notebook.link.value
    assert "fl-copy-link" in in_notebook.link.value


def test_app_with_a_malformed_link_shows_why_and_the_default_mask(small_vgg_flat):
    model = small_vgg_flat
    app = fl.freeze_lab_app(model, query="mask=F:block7", request_url="http://127.0.0.1:1/")
    assert app.opened_with.error
    assert all(layer.trainable for layer in model.layers)  # the default: everything trains
    assert _keras_trainable(model) == model.count_params()
    assert "could not be read" in app.notice.value
    assert "block7" in app.notice.value
    assert app.panel.mask_text == "T:all"
    assert app.link_url == "http://127.0.0.1:1/?mask=T%3Aall"


def test_app_reads_the_page_request_from_the_environment(small_vgg_flat, monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "mask=F:all")
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:2/?mask=F:all&token=x")
    app = fl.freeze_lab_app(small_vgg_flat)
    assert _keras_trainable(small_vgg_flat) == 0
    assert app.link_url == "http://127.0.0.1:2/?mask=F%3Aall"


def test_app_states_the_weights_of_the_panel_and_of_the_feature_views(small_vgg_flat):
    features = fl.load_vgg16(weights=None, input_size=32, verbose=False)
    app = fl.freeze_lab_app(small_vgg_flat, features, query="")
    for view in app.feature_views:
        if hasattr(view, "job"):
            view.job.wait()
    assert len(app.feature_views) == 2
    assert "Freeze panel: Weights in use for" in app.weights.value
    assert "Feature views: Weights in use for" in app.weights.value
    assert "UNTRAINED" in app.weights.value  # both are untrained here, and the page says so
    assert app.notice.value == ""


def test_app_rejects_what_is_not_a_model_or_has_nothing_to_freeze():
    import keras

    with pytest.raises(ValueError, match="freeze_lab_app expects a Keras model"):
        fl.freeze_lab_app("vgg16")
    inputs = keras.Input((8, 8, 3))
    pooled = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs), name="pool")
    with pytest.raises(ValueError, match=r"model with weights.*Received: model 'pool'"):
        fl.freeze_lab_app(pooled)


def test_app_says_the_weights_once_and_shows_the_decoded_mask_by_the_link(small_vgg_flat):
    app = fl.freeze_lab_app(small_vgg_flat, query="mask=F:block1-3%20T:block4-5,head")
    page = app.weights.value + app.panel.widget.children[0].value
    assert page.count("Weights in use") == 1
    assert '<code class="fl-link-mask">F:block1-3 T:block4-5,head</code>' in app.link.value
    app.panel.checkboxes["block4_conv1"].value = False
    assert '<code class="fl-link-mask">F:block1-3,block4_conv1 T:' in app.link.value
