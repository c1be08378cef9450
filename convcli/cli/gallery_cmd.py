"""``convcli gallery``: one contact sheet showing what each kernel does to an image."""

from __future__ import annotations

import os

import click

from .options import existing_inputs, lasting_output


@click.command("gallery")
@click.argument(
    "input_", metavar="INPUT", type=click.Path(allow_dash=True), callback=existing_inputs
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=lasting_output,
    help="The sheet (its extension or --format picks the format; '-' for stdout). Without "
    "-o: standard output when redirected or piped, else STEM-gallery.EXT beside INPUT.",
)
@click.option(
    "--kernel",
    "-k",
    "kernels",
    multiple=True,
    metavar="KERNEL",
    help="A kernel to show (name, inline matrix or file); repeat for more. Default: identity, "
    "box:5, gaussian:sigma=2, sharpen, edge, sobel-x, sobel-y, sobel, laplacian, emboss, "
    "motion:15,30.",
)
@click.option(
    "--tile",
    type=click.IntRange(min=16),
    default=256,
    show_default=True,
    help="Width of each tile in pixels (height keeps the aspect ratio).",
)
@click.option(
    "--columns",
    type=click.IntRange(min=1),
    default=None,
    help="Tiles per row [default: about the square root of the count, at most 4].",
)
@click.option("--gray", is_flag=True, help="Show the luminance of a colour image.")
@click.option("--format", "-f", "format_", metavar="FORMAT", help="Output format (png, jpeg, ...).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def gallery_cmd(
    input_: str,
    output: str | None,
    kernels: tuple[str, ...],
    tile: int,
    columns: int | None,
    gray: bool,
    format_: str | None,
    overwrite: bool,
) -> None:
    """Write a contact sheet: INPUT and its result under each kernel, labelled.

    Each kernel is applied as `convcli filter` does by default ('same'
    padding, reflect border, --range auto: edge detectors' absolute values
    stretched so their 99th percentile is white), scaled to a tile and
    labelled under it with its name (a kernel file's stem).

    \N{BACKSPACE}
    Example:
      convcli gallery sample_images/camera.png -o sheet.png
      convcli gallery photo.jpg --format jpeg > sheet.jpg
      convcli gallery photo.jpg -k sobel-x -k sobel-y -k laplacian -o edges.png
    """
    from ..errors import ConvcliError
    from ..images.io import output_format, read_image, same_file, write_image
    from ..teaching.gallery import gallery_kernels, make_gallery
    from .jobs import plan_jobs

    # where the sheet goes without -o: the rule filter and pool follow
    (job,) = plan_jobs((input_,), output, None, format_, ("gallery",))
    output = job.target
    if same_file(input_, output):
        raise ConvcliError(f"{output}: is the input; convcli never overwrites an input")
    fmt = output_format(output, format_)
    if output != "-" and os.path.lexists(output) and not overwrite:
        raise ConvcliError(f"{output} exists; pass --overwrite to replace it")
    try:
        chosen = gallery_kernels(list(kernels) or None)
        for _, kernel in chosen:
            kernel.check_magnitude(65535.0)  # as filter's -k: a kernel at fault is a usage error
    except ConvcliError as exc:
        raise click.BadParameter(str(exc), param_hint="--kernel") from None
    image = read_image(input_)
    sheet = make_gallery(image, chosen, tile=tile, columns=columns, gray=gray)
    for note in write_image(output, sheet.pixels, format=fmt, overwrite=overwrite):
        click.echo(f"note: {note}", err=True)
    if job.beside:
        click.echo(f"wrote {output}", err=True)
