/** A stylesheet imported by the page's script is its text: page-bundle.mjs loads .css as text. */
declare module "*.css" {
  const text: string;
  export default text;
}
