"""The new-run form's augmentation preview: the worker's PNG beside the augmentation fields, drawn again when a
field changes, with alt text that says what it shows, an error state for a spec the server refuses, and no
serious axe-core violation. Saves a 1920-px screenshot (new-run-preview-1920-light.png)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from contrastlab.core.catalog import DATASETS
from tests.browser import a11y
from tests.browser.helpers import save_screenshots
from tests.browser.screenshots import WIDE
from worker.engine.preview import grid_size

# The drawn image's size and a checksum of its pixels, read back through a canvas.
PIXELS = """img => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 1) sum = (sum * 31 + d[i]) % 1000000007;
  return [img.naturalWidth, img.naturalHeight, sum];
}"""


def drawn(page: Page, previous: list | None = None) -> list:
    """The image's [width, height, checksum] once it is drawn (and differs from `previous`)."""
    image = page.get_by_test_id("augment-preview-image")
    expect(image).to_be_visible(timeout=90_000)
    page.wait_for_function("""([prev]) => { const img = document.querySelector('[data-testid=augment-preview-image]');
        const box = document.querySelector('[data-testid=augment-preview]');
        return img.complete && img.naturalWidth > 0 && !box.hasAttribute('aria-busy')
          && (!prev || img.src !== window.__previewSrc); }""", arg=[previous], timeout=90_000)
    page.evaluate("() => { window.__previewSrc = document.querySelector('[data-testid=augment-preview-image]').src; }")
    return image.evaluate(PIXELS)


def test_the_form_shows_the_preview_and_redraws_it_when_a_field_changes(page: Page) -> None:
    a11y.install(page)
    page.goto("/#/new")
    page.get_by_test_id("field-dataset").select_option(label=DATASETS["fashion_mnist"].label)
    page.locator("details[data-group=augmentation] > summary").click()
    first = drawn(page)
    assert first[:2] == list(grid_size(8, 2, 28))  # 8 images, each with 2 views
    image = page.get_by_test_id("augment-preview-image")
    expect(image).to_have_attribute("alt", "8 fashion_mnist training images, each followed by 2 augmented views "
                                           "(crop 0.3–1 of the area, flip 0.5, jitter 0.4 (p 0.8), grey p 0.2, "
                                           "blur p 0, seed 0)")
    # Beside the fields: the figure sits to the right of the augmentation fields' grid.
    fields = page.locator("details[data-group=augmentation] .form-grid").bounding_box()
    figure = page.get_by_test_id("augment-preview").bounding_box()
    assert fields and figure and figure["x"] >= fields["x"] + fields["width"] - 1

    page.get_by_test_id("field-blur_prob").fill("1")
    second = drawn(page, first)
    assert second[:2] == first[:2] and second[2] != first[2]  # same grid, other pixels: every view blurred
    expect(image).to_have_attribute("alt", "8 fashion_mnist training images, each followed by 2 augmented views "
                                           "(crop 0.3–1 of the area, flip 0.5, jitter 0.4 (p 0.8), grey p 0.2, "
                                           "blur p 1, seed 0)")
    a11y.assert_axe_clean(page, "the new-run form with its augmentation preview")
    page.set_viewport_size(WIDE)
    page.wait_for_timeout(300)
    save_screenshots(page, "new-run-preview-1920")

    page.get_by_test_id("field-crop_scale_min").fill("0.9")
    page.get_by_test_id("field-crop_scale_max").fill("0.5")
    status = page.get_by_test_id("augment-preview-status")
    expect(status).to_contain_text("No preview:", timeout=30_000)
    expect(status).to_contain_text("crop_scale_max")
    a11y.assert_axe_clean(page, "the augmentation preview's error state")
