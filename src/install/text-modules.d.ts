// The packaging templates are bundled into the executable as text
// (`import x from "….service" with { type: "text" }`); TypeScript needs to know they are strings.
declare module "*.service" {
  const text: string;
  export default text;
}
declare module "*.conf" {
  const text: string;
  export default text;
}
