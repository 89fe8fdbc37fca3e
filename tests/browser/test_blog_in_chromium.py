"""The example blog, used the way a person would: in Chromium, by clicking and typing.

Each test is a new visitor (a fresh browser context). The ``new_context`` fixture
fails a test whose pages log a console error, throw an uncaught JavaScript error or
get a 5xx response. Screenshots of the key pages go to ``test-artifacts/browser/``;
with ``KETTLE_UPDATE_SCREENSHOT=1`` the README's picture, ``docs/blog.png``, is
rewritten too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # conftest.py's ``browser`` fixture skips (or fails) then
    pass

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page, Response

    from conftest import Blog, Watch

README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "blog.png"

Shot = Callable[["Page", str], None]


# What a visitor does, through the pages' own links and forms.


def register(page: Page, blog: Blog, username: str, password: str) -> None:
    page.goto(blog.url)
    nav(page).get_by_role("link", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(blog.at("/auth/login"))
    expect(flash(page)).to_have_text(f"Welcome, {username}! You can log in now.")


def log_in(page: Page, blog: Blog, username: str, password: str) -> None:
    if not page.url.startswith(blog.at("/auth/login")):
        page.goto(blog.url)
        nav(page).get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(blog.at("/"))
    expect(page.locator(".who")).to_have_text(f"Signed in as {username}")


def write_post(page: Page, blog: Blog, title: str, body: str) -> int:
    """Publish a post from the front page's "New post" link; its id."""
    page.goto(blog.url)
    nav(page).get_by_role("link", name="New post").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New post")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Text").fill(body)
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(blog.at("/"))
    expect(flash(page)).to_have_text("Your post is published.")
    href = edit_link(page, title).get_attribute("href") or ""
    found = re.fullmatch(r"/(\d+)/update", href)
    assert found, f"unexpected edit link {href!r}"
    return int(found[1])


def nav(page: Page) -> Locator:
    """The links and buttons of the site's header."""
    return page.get_by_role("navigation")


def flash(page: Page) -> Locator:
    return page.locator(".flashes").get_by_role("status")


def post_card(page: Page, title: str) -> Locator:
    return page.get_by_role("article").filter(
        has=page.get_by_role("heading", name=title, exact=True)
    )


def edit_link(page: Page, title: str) -> Locator:
    return post_card(page, title).get_by_role("link", name="Edit")


def css(locator: Locator, prop: str) -> str:
    return str(locator.evaluate("(e, p) => getComputedStyle(e)[p]", prop))


@pytest.fixture
def shot(artifacts: Path) -> Shot:
    """``shot(page, "name")``: a full-page screenshot, ``name.png`` in artifacts."""

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{name}.png", full_page=True)

    return shot


def test_the_front_page_is_styled_by_its_stylesheet(
    page: Page, blog: Blog, shot: Shot
) -> None:
    def is_stylesheet(response: Response) -> bool:
        return response.url.endswith("/static/style.css")

    with page.expect_response(is_stylesheet) as stylesheet:
        page.goto(blog.url)
    assert stylesheet.value.status == 200
    assert stylesheet.value.header_value("content-type") == "text/css; charset=utf-8"

    expect(page).to_have_title("Posts · Kettle Blog")
    expect(page.get_by_role("heading", level=1)).to_have_text("Latest posts")
    # Rules of style.css, not the browser's defaults, lay out the page.
    assert css(page.locator("body"), "backgroundColor") == "rgb(246, 244, 239)"
    assert css(page.locator(".site-header"), "backgroundColor") == "rgb(255, 255, 255)"
    assert css(page.locator(".brand"), "fontWeight") == "800"
    register_button = nav(page).get_by_role("link", name="Register")
    assert css(register_button, "backgroundColor") == "rgb(194, 65, 12)"
    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
    shot(page, "01-index")


@pytest.mark.timeout(120)
def test_a_new_user_registers_then_writes_edits_and_deletes_a_post(
    page: Page, blog: Blog, shot: Shot
) -> None:
    # Register: the form, then the login page greets the new account.
    page.goto(blog.url)
    nav(page).get_by_role("link", name="Register").click()
    expect(page).to_have_url(blog.at("/auth/register"))
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("ann-password")
    shot(page, "02-register")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(blog.at("/auth/login"))
    expect(flash(page)).to_have_text("Welcome, ann! You can log in now.")

    # A wrong password: an error, in the error style, and the username is kept.
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Log in").click()
    expect(flash(page)).to_have_text("Wrong username or password.")
    expect(flash(page)).to_have_class(re.compile(r"\bflash-error\b"))
    assert css(flash(page), "backgroundColor") == "rgb(254, 226, 226)"
    expect(page.get_by_label("Username")).to_have_value("ann")
    expect(page.locator(".who")).to_have_count(0)
    shot(page, "03-login-error")

    # The right one.
    log_in(page, blog, "ann", "ann-password")

    # Write a post.
    nav(page).get_by_role("link", name="New post").click()
    expect(page).to_have_url(blog.at("/create"))
    page.get_by_label("Title").fill("Tea or coffee?")
    page.get_by_label("Text").fill("Both, from the same kettle.\nSecond line.")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(blog.at("/"))
    expect(flash(page)).to_have_text("Your post is published.")
    post = post_card(page, "Tea or coffee?")
    expect(post.locator(".author")).to_have_text("ann")
    expect(post.locator(".body")).to_have_text(
        "Both, from the same kettle.\nSecond line."
    )
    shot(page, "04-post-created")

    # Edit it.
    edit_link(page, "Tea or coffee?").click()
    expect(page).to_have_url(re.compile(r"/\d+/update$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit “Tea or coffee?”")
    expect(page.get_by_label("Title")).to_have_value("Tea or coffee?")
    shot(page, "05-edit")
    page.get_by_label("Title").fill("Tea, then coffee")
    page.get_by_label("Text").fill("Changed my mind.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(blog.at("/"))
    expect(flash(page)).to_have_text("Your changes are saved.")
    expect(post_card(page, "Tea, then coffee").locator(".body")).to_have_text(
        "Changed my mind."
    )
    expect(post_card(page, "Tea or coffee?")).to_have_count(0)

    # Delete it: the browser asks first; cancelling keeps the post.
    edit_link(page, "Tea, then coffee").click()
    edit_url = page.url
    questions: list[str] = []

    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Delete this post").click()
    expect(page).to_have_url(edit_url)
    assert questions == ["Delete this post for good?"]

    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.get_by_role("button", name="Delete this post").click()
    expect(page).to_have_url(blog.at("/"))
    expect(flash(page)).to_have_text("The post is deleted.")
    expect(post_card(page, "Tea, then coffee")).to_have_count(0)
    assert len(questions) == 2

    # Log out: the header offers to log in again, and writing needs it.
    page.get_by_role("button", name="Log out").click()
    expect(flash(page)).to_have_text("You are logged out.")
    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    page.goto(blog.at("/create"))
    expect(page).to_have_url(blog.at("/auth/login?next=/create"))
    expect(flash(page)).to_have_text("Log in to do that.")


def test_another_users_post_cannot_be_edited(
    new_context: Callable[[], BrowserContext],
    blog: Blog,
    watch: Watch,
    shot: Shot,
) -> None:
    owner = new_context().new_page()
    register(owner, blog, "olga", "olga-password")
    log_in(owner, blog, "olga", "olga-password")
    post_id = write_post(owner, blog, "Olga's post", "Only Olga may change this.")

    other = new_context().new_page()
    register(other, blog, "piotr", "piotr-password")
    log_in(other, blog, "piotr", "piotr-password")
    # Piotr sees the post, without an edit link...
    expect(post_card(other, "Olga's post")).to_be_visible()
    expect(edit_link(other, "Olga's post")).to_have_count(0)

    # ...and typing its edit page's address is forbidden.
    url = blog.at(f"/{post_id}/update")
    watch.expect_status(url, 403)
    response = other.goto(url)
    assert response is not None and response.status == 403
    expect(other).to_have_title("403 Forbidden · Kettle Blog")
    expect(other.get_by_role("heading", level=1)).to_have_text("403 · Forbidden")
    expect(other.locator(".lead")).to_have_text("Only its author can change this post.")
    expect(other.get_by_label("Title")).to_have_count(0)
    shot(other, "06-forbidden-403")

    other.get_by_role("link", name="Back to the front page").click()
    expect(other).to_have_url(blog.at("/"))
    # The post is untouched, and still Olga's to edit.
    owner.goto(blog.url)
    expect(edit_link(owner, "Olga's post")).to_be_visible()


def test_a_missing_post_is_not_found(
    page: Page, blog: Blog, watch: Watch, shot: Shot
) -> None:
    register(page, blog, "quinn", "quinn-password")
    log_in(page, blog, "quinn", "quinn-password")
    url = blog.at("/999999/update")
    watch.expect_status(url, 404)
    response = page.goto(url)
    assert response is not None and response.status == 404
    expect(page).to_have_title("404 Not Found · Kettle Blog")
    expect(page.get_by_role("heading", level=1)).to_have_text("404 · Not Found")
    expect(page.locator(".lead")).to_have_text("There is no post 999999.")
    # The error page keeps the layout: styled, and still signed in.
    assert css(page.locator("body"), "backgroundColor") == "rgb(246, 244, 239)"
    expect(page.locator(".who")).to_have_text("Signed in as quinn")
    shot(page, "07-not-found-404")


def test_the_watch_reports_console_errors_uncaught_errors_and_5xx(
    page: Page, blog: Blog, watch: Watch
) -> None:
    """The checks that fail every other test, seen to work (and then forgiven)."""
    page.goto(blog.url)
    page.evaluate("console.error('logged on purpose')")
    page.evaluate("setTimeout(() => { throw new Error('thrown on purpose'); })")
    page.route(
        blog.at("/server-error"),
        lambda route: route.fulfill(status=503, body="down on purpose"),
    )
    page.goto(blog.at("/server-error"))
    wanted = [
        "console error: logged on purpose",
        "uncaught JavaScript error: thrown on purpose",
        f"503 from {blog.at('/server-error')}",
    ]
    for _ in range(50):  # the events arrive asynchronously
        seen = "\n".join(watch.problems)
        if all(w in seen for w in wanted):
            break
        page.wait_for_timeout(100)
    assert [w for w in wanted if w not in seen] == [], seen
    watch.problems.clear()


def test_the_readme_screenshot(
    fresh_blog: Blog,  # first: its server outlives the browser contexts
    page: Page,
    new_context: Callable[[], BrowserContext],
    artifacts: Path,
) -> None:
    """The front page with a few posts, as the README shows it (``docs/blog.png``)."""
    blog = fresh_blog
    author = new_context().new_page()
    register(author, blog, "tomasz", "tomasz-password")
    log_in(author, blog, "tomasz", "tomasz-password")
    write_post(
        author,
        blog,
        "Descaling the office kettle",
        "Citric acid, half an hour, two rinses.\nIt is quiet again.",
    )
    register(page, blog, "maria", "maria-password")
    log_in(page, blog, "maria", "maria-password")
    write_post(
        page,
        blog,
        "Hello from Kettle",
        "This blog is a Flask application that imports kettle instead of flask.",
    )
    page.goto(blog.url)
    expect(page.get_by_role("article")).to_have_count(2)
    expect(edit_link(page, "Hello from Kettle")).to_be_visible()
    expect(edit_link(page, "Descaling the office kettle")).to_have_count(0)

    picture = page.screenshot(type="png")  # the viewport: 1000 x 700
    (artifacts / "readme-blog.png").write_bytes(picture)
    if os.environ.get("KETTLE_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        README_SCREENSHOT.write_bytes(picture)
